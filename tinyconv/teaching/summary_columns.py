"""``summary(model)``: Keras's summary table with teaching columns per layer.

* Receptive field / Jump: how many input pixels one output cell of the layer sees, and how far apart
  (in input pixels) neighbouring output cells are (see ``receptive_field.py``);
* FLOPs: the layer's forward pass per sample (see ``flops.py``).

The table itself is ``model.summary()``'s; these columns are added through its ``extra_columns`` hook.
"""
from ..models.summary import SummaryColumn, print_summary
from .flops import layer_flops
from .receptive_field import per_layer_receptive_fields, receptive_field_text


def summary(model, receptive_field=True, flops=True, line_length=None, print_fn=None):
    """Print ``model.summary()`` with a receptive-field column (and its jump) and a FLOPs column.

    Receptive fields need a chain of layers (a Sequential or a sequential-like functional model).

    Args:
        model: a built model.
        receptive_field: add the receptive-field and jump columns.
        flops: add the FLOPs column.
        line_length: the table width; None: the default.
        print_fn: called with the table text; None: ``print``.

    Raises:
        ValueError: if the model is not a chain of layers.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(2, 3)])
    >>> lines = []
    >>> tinyconv.teaching.summary_columns.summary(model, print_fn=lines.append)
    >>> any("Receptive field" in line for line in lines)
    True
    """
    print_summary(model, line_length=line_length, print_fn=print_fn,
                  extra_columns=teaching_columns(model, receptive_field, flops))


def teaching_columns(model, receptive_field=True, flops=True):
    """The ``SummaryColumn``s that ``summary`` adds, for ``print_summary(..., extra_columns=...)``.

    Args:
        model: a built model (a chain of layers).
        receptive_field: include the receptive-field and jump columns.
        flops: include the FLOPs column.

    Returns:
        A list of ``SummaryColumn``.

    Raises:
        ValueError: if the model is not a chain of layers.

    Example:

    >>> model = tinyconv.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(2, 3)])
    >>> [c.header for c in tinyconv.teaching.summary_columns.teaching_columns(model)]
    ['Receptive field', 'Jump', 'FLOPs']
    """
    if getattr(model, "is_sequential_like", lambda: True)() is False:
        raise ValueError(f"{model.describe()}: the receptive-field and FLOP columns need a chain of layers "
                         "(Sequential or a sequential-like functional model)")
    columns = []
    if receptive_field:
        texts = {id(layer): receptive_field_text(field)
                 for layer, field in zip(model.layers, per_layer_receptive_fields(model))}
        columns.append(SummaryColumn("Receptive field", 15, lambda layer: texts.get(id(layer), ("", ""))[0]))
        columns.append(SummaryColumn("Jump", 11, lambda layer: texts.get(id(layer), ("", ""))[1]))
    if flops:
        columns.append(SummaryColumn("FLOPs", 11, _flops_cell))
    return columns


def _flops_cell(layer):
    return f"{layer_flops(layer):,}" if layer.built and layer.input_shape is not None else "?"
