"""The tape of one step, printed op by op: micrograd's picture for a custom layer.

``tape_step(layer, x)`` runs a layer that defines only ``call`` the way training does - forward on a
tape, then the tape replayed backwards from dL/dy (ones by default) - and returns a ``TapeReport``:

* forward, in the order the ops ran: each op, the values it read, the value it made;
* backward, in reverse: the gradient each value received (summed where it fed several ops).

``print(report)`` shows both tables; ``report.draw()`` draws the graph (matplotlib): one box per value,
one per op, arrows forward, each value labelled with its gradient.
"""
import numpy as np

from ..layers import taped
from ..ops.tape import Tape
from .table import format_table


def _summary(array):
    """A short text for a value: the number itself, or its shape and a few numbers."""
    if array is None:
        return "-"
    array = np.asarray(array)
    if array.size == 1:
        return f"{float(array.reshape(-1)[0]):.4g}"
    head = ", ".join(f"{v:.3g}" for v in array.reshape(-1)[:3])
    return f"{tuple(array.shape)} [{head}{', ...' if array.size > 3 else ''}]"


class TapeReport:
    """What ``tape_step`` saw: the tape's records, every value's name and every gradient.

    ``print(report)`` shows the forward table, the backward table and where the gradients end up.

    Args:
        tape: the ``Tape`` that recorded the step (and was replayed backwards).
        names: {id(TapedTensor): short name} (x, w, b, t1, t2, ...).
        inputs: the watched input tensors.
        outputs: the layer's output tensors.

    Example:

    >>> class Scale(layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(), initializer="ones", name="w")
    ...     def call(self, x):
    ...         return x * self.w + x
    >>> report = tinyconv.teaching.tape_step(Scale(), np.array([[1.0, 2.0]]))
    >>> [row[1] for row in report.backward_rows()]
    ['add', 'add', 'multiply', 'multiply']
    """

    def __init__(self, tape, names, inputs, outputs):
        self.tape = tape
        self.names = names  # id(TapedTensor) -> short name: x, w, b, t1, t2, ...
        self.inputs = inputs
        self.outputs = outputs

    def _name(self, tensor):
        return "const" if tensor is None else self.names.get(id(tensor), "?")

    def gradient_of(self, tensor):
        """dL/d(value) for a TapedTensor of the tape (None when no gradient reached it).

        Args:
            tensor: a TapedTensor recorded on the tape (an input, a weight's leaf or an op output).

        Returns:
            The gradient array, or None.
        """
        return self.tape.last_gradients.get(id(tensor))

    def forward_rows(self):
        """(record number, op, the values it reads, the values it makes, its output's value) per record.

        Returns:
            A list of tuples, in the order the ops ran.
        """
        return [(index, record.name, ", ".join(self._name(t) for t in record.inputs),
                 ", ".join(self._name(t) for t in record.outputs), _summary(record.outputs[0].value))
                for index, record in enumerate(self.tape.records, 1)]

    def backward_rows(self):
        """(record number, op, the input it sends to, what it sends): each record's own share, before summing."""
        number = {id(record): index for index, record in enumerate(self.tape.records, 1)}
        return [(number[id(record)], record.name, self._name(tensor), _summary(gradient))
                for record, tensor, gradient in self.tape.last_contributions]

    def __str__(self):
        forward = format_table(["#", "op", "reads", "makes", "value"], self.forward_rows())
        backward = format_table(["#", "op", "sends to", "its share of dL/d(value)"], self.backward_rows())
        leaves = format_table(["value", "is", "dL/d(value)"],
                              [(self._name(t), what, _summary(self.gradient_of(t))) for t, what in self._leaves()])
        return (f"forward (the ops in the order they ran)\n{forward}\n\n"
                f"backward (the same records, last first; each sends dL/d(output) to its inputs)\n{backward}\n\n"
                f"where the gradients end up (the shares summed)\n{leaves}")

    def _leaves(self):
        leaves = [(t, "input") for t in self.inputs]
        leaves += [(self.tape.leaf_for(v), f"weight {v.path}") for v in self.tape.variables()]
        return leaves

    def draw(self, ax=None):
        """The tape as a graph: values (boxes, with dL/d value) and ops (ellipses), arrows as data flows.

        Args:
            ax: a matplotlib Axes to draw on; None: a new pyplot figure.

        Returns:
            The matplotlib Figure drawn on.
        """
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(2.2 * (len(self.tape.records) + 2), 4))
        column = {id(t): 0 for t, _ in self._leaves()}
        rows_used = {}

        def place(tensor, col):
            row = rows_used.get(col, 0)
            rows_used[col] = row + 1
            return col, -row

        where = {}
        for tensor, _ in self._leaves():
            where[id(tensor)] = place(tensor, 0)
        for index, record in enumerate(self.tape.records, 1):
            col = max([column.get(id(t), 0) for t in record.inputs if t is not None] + [0]) + 1
            op_at = place(None, 2 * col - 1)
            ax.text(*op_at, record.name, ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "ellipse", "fc": "#fde9c9"})
            for tensor in record.inputs:
                if tensor is not None and id(tensor) in where:
                    far = op_at[0] - where[id(tensor)][0] > 1  # skips columns: bend it so it stays visible
                    ax.annotate("", xy=op_at, xytext=where[id(tensor)],
                                arrowprops={"arrowstyle": "->", "connectionstyle": f"arc3,rad={-0.3 if far else 0}",
                                            "color": "#555555" if far else "black"})
            for tensor in record.outputs:
                column[id(tensor)] = col
                where[id(tensor)] = place(tensor, 2 * col)
                ax.annotate("", xy=where[id(tensor)], xytext=op_at, arrowprops={"arrowstyle": "->"})
        tensors = {id(t): t for t, _ in self._leaves()}
        tensors.update({id(t): t for r in self.tape.records for t in r.outputs})
        for key, (x, y) in where.items():
            tensor = tensors[key]
            ax.text(x, y, f"{self._name(tensor)}\ngrad {_summary(self.gradient_of(tensor))}", ha="center",
                    va="center", fontsize=7, bbox={"boxstyle": "round", "fc": "#dbe9f6"})
        ax.set_xlim(-1, 2 * len(self.tape.records) + 1)
        ax.set_ylim(-max(rows_used.values(), default=1), 1)
        ax.axis("off")
        return ax.figure


def tape_step(layer, x, dy=None):
    """Run ``layer`` (a layer with only ``call``) forward on a tape and backward from ``dy``.

    Args:
        layer: a layer that defines ``call`` with ``tinyconv.ops`` (built on first use).
        x: an input batch.
        dy: dL/d(output); ones (L = the sum of the outputs) by default.

    Returns:
        A ``TapeReport``: ``print`` it for the forward and backward tables.

    Example:

    >>> class Scale(layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(), initializer="ones", name="w")
    ...     def call(self, x):
    ...         return x * self.w + x
    >>> report = tape_step(Scale(), np.array([[1.0, 2.0]]))
    >>> [row[1] for row in report.forward_rows()]
    ['multiply', 'add']
    >>> report.gradient_of(report.inputs[0]).tolist()  # d(x w + x)/dx = w + 1
    [[2.0, 2.0]]
    """
    if not layer._runs_call():
        raise TypeError(f"tape_step: {layer.describe()} has its own backward(); the tape is for layers that "
                        "define only call() (use teaching.trace_step for a model of built-in layers)")
    x = np.asarray(x, dtype=layer.dtype)
    taped.build_if_needed(layer, (None,) + x.shape[1:])
    tape = Tape()
    with tape:
        watched = tape.watch(x, "x")
        out = taped.invoke_call(layer, watched, True)
    outputs = taped.flatten(out)
    seeds = [np.ones_like(o.value) if dy is None else dy for o in outputs]
    tape.gradient(outputs + tape.added_losses, [watched], seeds + [None] * len(tape.added_losses))
    names = {id(watched): "x"}
    for variable in tape.variables():
        names[id(tape.leaf_for(variable))] = variable.name
    count = 0
    for record in tape.records:
        for tensor in record.outputs:
            count += 1
            names[id(tensor)] = f"t{count}"
    return TapeReport(tape, names, [watched], outputs)
