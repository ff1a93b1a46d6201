"""Is my backward right?  Compare it with central differences, in float64.

For every trainable weight w (and the input x), perturb one entry at a time:

    dL/dw[i]  ~=  (L(w[i] + eps) - L(w[i] - eps)) / (2 eps)         error O(eps^2)

and compare with what ``backward`` stored.  The relative error

    max|analytic - numeric| / (max|analytic| + max|numeric|)

is ~1e-9 for a correct backward in float64; a backward off by 1% gives ~5e-3.  float32 has
only ~7 digits, too few for differences of nearly equal losses, hence float64 only.

A layer is checked with L = sum(y * r) for a fixed random r, so dL/dy = r exercises every
output.  A compiled model is checked with its own loss (plus regularization).
"""
import numpy as np

from ..models.model import Model
from .backprop import forward_backward, loss_value, prepare, require_loss
from .hooks import leaf_layers
from .table import format_table, shape_text


class GradientCheckReport:
    """One row per tensor: name, shape, max abs diff, relative error, pass/fail; ``passed`` if all pass.

    ``report[name]`` is the row of the tensor ``name``; ``str(report)`` is a table.

    Args:
        subject: what was checked (a layer or model description).
        rows: one dict per tensor, as ``compare`` returns.
        tol: the relative-error tolerance used.

    Example:

    >>> layer = layers.Dense(2, dtype="float64")
    >>> report = tinyconv.teaching.gradient_check(layer, np.ones((1, 3)))
    >>> report.passed, [row["name"] for row in report.rows]
    (True, ['input', 'kernel', 'bias'])
    """

    def __init__(self, subject, rows, tol):
        self.subject = subject
        self.rows = rows  # dicts: name, shape, max_abs_diff, relative_error, passed
        self.tol = tol

    @property
    def passed(self):
        """True when every tensor's relative error is below the tolerance."""
        return all(row["passed"] for row in self.rows)

    def __getitem__(self, name):
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no tensor named {name!r}; tensors: {[r['name'] for r in self.rows]}")

    def as_dict(self):
        """The rows as plain data.

        Returns:
            A dict {tensor name: row dict}.
        """
        return {row["name"]: dict(row) for row in self.rows}

    def __str__(self):
        body = format_table(
            ["Tensor", "Shape", "Max abs diff", "Relative error", "Result"],
            [[r["name"], shape_text(r["shape"]), f"{r['max_abs_diff']:.3e}", f"{r['relative_error']:.3e}",
              "pass" if r["passed"] else "FAIL"] for r in self.rows])
        verdict = "all gradients agree" if self.passed else "some gradients are WRONG"
        return f"Gradient check of {self.subject} (tolerance {self.tol:g}): {verdict}\n{body}"

    __repr__ = __str__


def numerical_gradient(f, array, eps):
    """dF/d(array) by central differences, perturbing ``array`` in place (and restoring it).

    Args:
        f: a function of no arguments returning a float that depends on ``array``.
        array: a float64 array, perturbed in place one entry at a time.
        eps: the perturbation size.

    Returns:
        The numerical gradient, shape of ``array``.

    Example:

    >>> from tinyconv.teaching.gradient_check import numerical_gradient
    >>> w = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda: float(np.sum(w ** 2)), w, 1e-6).round(6)
    array([2., 4.])
    """
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def compare(name, analytic, numeric, tol):
    """One report row: how far an analytic gradient is from the numerical one.

    Args:
        name: the tensor's name.
        analytic: the gradient from ``backward``.
        numeric: the gradient from central differences.
        tol: the largest relative error that passes.

    Returns:
        A dict with name, shape, max_abs_diff, relative_error and passed.

    Example:

    >>> from tinyconv.teaching.gradient_check import compare
    >>> row = compare("w", [1.0, 2.0], [1.0, 2.1], tol=1e-6)
    >>> round(row["relative_error"], 4), row["passed"]
    (0.0244, False)
    """
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    diff = float(np.max(np.abs(analytic - numeric))) if analytic.size else 0.0
    scale = float(np.max(np.abs(analytic)) + np.max(np.abs(numeric))) if analytic.size else 0.0
    relative = diff / max(scale, 1e-12)
    return {"name": name, "shape": tuple(analytic.shape), "max_abs_diff": diff, "relative_error": relative,
            "passed": bool(relative < tol)}


def _require_float64(what, dtypes):
    wrong = sorted({str(d) for d in dtypes if np.dtype(d) != np.float64})
    if wrong:
        raise ValueError(f"gradient_check: {what} runs in {', '.join(wrong)}; central differences need float64. "
                         "Create it with dtype='float64' (or call tinyconv.backend.set_floatx('float64') "
                         "before building it).")


def gradient_check(model_or_layer, x, y=None, loss=None, eps=1e-6, seed=0, tol=1e-6, training=False):
    """Compare analytic and numerical gradients of every trainable weight and of the input.

    ``model_or_layer``: a layer (L = sum(y_out * r), r fixed random with ``seed``; or ``loss(y, out)``
    when ``loss`` and ``y`` are given) or a model built in float64 (its compiled loss, or ``loss``).

    Args:
        model_or_layer: a layer or a model, built in float64.
        x: the input batch (copied; the copy is perturbed).
        y: the targets; needed for a model, and for a layer checked with ``loss``.
        loss: a loss name or object; None: a model's compiled loss, or sum(out * r) for a layer.
        eps: the central-difference step.
        seed: the seed of the fixed random r used for a layer.
        tol: the largest relative error that passes.
        training: run forward in training mode.

    Returns:
        A ``GradientCheckReport``; ``report.passed`` tells whether all agree within ``tol``.

    Raises:
        ValueError: if the layer or model is not float64, or targets are missing.

    Example:

    >>> layer = layers.Dense(2, dtype="float64")
    >>> report = tinyconv.teaching.gradient_check(layer, np.ones((1, 3)))
    >>> report.passed
    True
    """
    if isinstance(model_or_layer, Model):
        return _check_model(model_or_layer, x, y, loss, eps, tol, training)
    return _check_layer(model_or_layer, x, y, loss, eps, seed, tol, training)


def _check_layer(layer, x, y, loss, eps, seed, tol, training):
    x = np.array(x, dtype=np.float64)  # a private copy: it is perturbed in place
    _require_float64(layer.describe(), [layer.dtype])
    out = layer(x, training=training)
    loss = require_loss(layer, loss) if loss is not None else None
    if loss is not None:
        if y is None:
            raise ValueError("gradient_check: a loss needs targets y")
        targets = np.asarray(y)

        def objective():
            return float(loss(targets, layer.forward(x, training=training)))

        layer.forward(x, training=training)
        upstream = np.asarray(loss.gradient(targets, layer.forward(x, training=training)), dtype=np.float64)
    else:
        r = np.random.default_rng(seed).standard_normal(np.shape(out))

        def objective():
            return float(np.sum(layer.forward(x, training=training) * r))

        layer.forward(x, training=training)
        upstream = r.copy()
    dx = layer.backward(upstream)
    analytic = {"input": dx}
    for slot in _trainable_slots(layer):
        analytic[slot.name] = np.array(layer.grads[slot.name])  # copy: later forwards may reuse buffers
    rows = [compare("input", analytic["input"], numerical_gradient(objective, x, eps), tol)]
    for slot in _trainable_slots(layer):
        rows.append(compare(slot.name, analytic[slot.name], numerical_gradient(objective, slot.value, eps), tol))
    return GradientCheckReport(layer.describe(), rows, tol)


def _trainable_slots(layer):
    return [slot for slot in getattr(layer, "_weights", []) if slot.trainable] if layer.trainable else []


def _check_model(model, x, y, loss, eps, tol, training):
    if y is None:
        raise ValueError("gradient_check: checking a model needs targets y for its loss")
    loss = require_loss(model, loss)
    inputs, targets = prepare(model, x, y, "gradient_check")
    layers = leaf_layers(model)
    _require_float64(model.describe(), [a.dtype for a in inputs] + [w.dtype for w in model.weights])
    inputs = [np.array(a) for a in inputs]
    _, _, input_grads = forward_backward(model, inputs, targets, loss, training)
    analytic = [("input" if len(inputs) == 1 else f"input_{i}", a, np.array(g))
                for i, (a, g) in enumerate(zip(inputs, input_grads))]
    for layer in layers:
        for slot in _trainable_slots(layer):
            analytic.append((f"{layer.name}/{slot.name}", slot.value, np.array(layer._regularized_gradient(slot))))

    def objective():
        return loss_value(model, inputs, targets, loss, training)

    rows = [compare(name, grad, numerical_gradient(objective, array, eps), tol) for name, array, grad in analytic]
    return GradientCheckReport(model.describe(), rows, tol)
