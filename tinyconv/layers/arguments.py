"""The checks of the layers' constructor arguments, and the channels_first <-> channels_last moves.

One copy, Keras's rules, used by every layer:

* sizes (``kernel_size``, ``strides``, ``pool_size``, ...): an int or a sequence of ``rank`` ints,
  each at least 1.  A bool counts as an int, as in Keras (Python's ``True == 1``): ``kernel_size=True``
  is a size of 1 in every layer, ``False`` is refused as not positive;
* ``padding``: a mode name, case-insensitive ('valid', 'same', and 'causal' for Conv1D);
* ``data_format``: 'channels_last' or 'channels_first', None meaning the backend's default;
* ``filters`` and ``groups``: positive ints, ``groups`` dividing ``filters``;
* strides > 1 together with dilation > 1 is refused (Keras does not support it either).

Every error names the layer (``layer`` is how it describes itself, ``Conv2D 'conv2d'``), the
argument, what was expected and what was received.

The kernels work channels-last: a ``channels_first`` layer moves the channel axis to the end of
its input on the way in and back on the way out (``to_channels_last`` / ``from_channels_last``,
and the same for shapes).  They follow the array module of their input: NumPy on the CPU, CuPy on
the GPU (``np.ascontiguousarray`` would try to copy a GPU array to the host).
"""
import numpy as np

from .. import devices

# How error messages name an input layout of rank 3, 4, 5 (batch and channel axes included).
_SPATIAL_AXES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


# --- numbers ------------------------------------------------------------------------------------


def is_int(value):
    """An int, a NumPy integer or a bool (Keras's rule: ``True`` is the int 1)."""
    return isinstance(value, (int, np.integer, np.bool_))


def positive_int(value, what, layer):
    """``value`` as an int >= 1 (filters, depth_multiplier, ...)."""
    if not is_int(value) or value <= 0:
        raise ValueError(f"{layer}: {what} must be a positive integer, got {value!r}")
    return int(value)


def as_tuple(value, rank, what, layer, minimum=1):
    """Keras's forms of a size: ``3`` or ``(3, 5, ...)``; returns a tuple of ``rank`` ints >= minimum."""
    values = (value,) * rank if is_int(value) else _as_sequence(value)
    if values is None or len(values) != rank or not all(is_int(v) for v in values):
        ints = "1 int" if rank == 1 else f"{rank} ints"
        raise ValueError(f"{layer}: {what} must be an int or a tuple of {ints}, got {value!r}")
    if min(values) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{layer}: {what} must be {bound}, got {value!r}")
    return tuple(int(v) for v in values)


def _as_sequence(value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return None
    return tuple(value)


# --- modes --------------------------------------------------------------------------------------


def check_padding(padding, layer, modes=("valid", "same")):
    """A padding mode, lower-cased; ``modes`` are the ones the layer supports."""
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in modes:
        raise ValueError(f"{layer}: padding must be {_one_of(modes)}, got {padding!r}")
    return mode


def explicit_padding(padding, rank, layer):
    """The lecture's explicit padding P, as ``rank`` (before, after) pairs of zeros: an int (the same on
    both sides of every axis), or one entry per spatial axis, each an int or a (before, after) pair."""
    entries = (padding,) * rank if is_int(padding) else _as_sequence(padding)
    if rank == 1 and entries is not None and len(entries) == 2 and all(is_int(p) for p in entries):
        entries = (entries,)   # Conv1D(padding=(before, after))
    pairs = None
    if entries is not None and len(entries) == rank:
        pairs = tuple((p, p) if is_int(p) else _as_sequence(p) for p in entries)
    if pairs is None or any(p is None or len(p) != 2 or not all(is_int(v) and v >= 0 for v in p) for p in pairs):
        raise ValueError(f"{layer}: explicit padding must be a non-negative int, or {rank} entries (one per spatial "
                         f"axis) each an int or a (before, after) pair, got {padding!r}")
    return tuple((int(before), int(after)) for before, after in pairs)


def check_data_format(data_format, layer):
    """'channels_last' or 'channels_first'; None means the backend's ``image_data_format()``."""
    from .. import backend

    data_format = data_format or backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return data_format


def _one_of(modes):
    names = [repr(m) for m in modes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --- convolutions -------------------------------------------------------------------------------


def check_filters(filters, layer):
    return positive_int(filters, "filters", layer)


def check_groups(groups, filters, layer):
    """Each of the ``groups`` groups maps its share of the input channels to filters / groups outputs."""
    if not is_int(groups) or groups <= 0 or filters % groups:
        raise ValueError(f"{layer}: groups must be a positive integer dividing filters={filters}, got {groups!r}")
    return int(groups)


def check_strides_with_dilation(strides, dilation_rate, layer):
    """Keras refuses strides > 1 together with dilation > 1 (on any axes); so do we."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(f"{layer}: strides > 1 is not supported together with dilation_rate > 1, "
                         f"got strides={strides} and dilation_rate={dilation_rate}")


# --- the channel axis ---------------------------------------------------------------------------


def input_layout(rank, data_format="channels_last"):
    """How messages spell an input with ``rank`` spatial axes: ``(batch, height, width, channels)``."""
    spatial = _SPATIAL_AXES[rank]
    if data_format == "channels_first":
        return f"(batch, channels, {spatial})"
    return f"(batch, {spatial}, channels)"


def to_channels_last(x, data_format):
    """channels_first data (N, C, *spatial) becomes (N, *spatial, C), contiguous; channels_last
    passes through.  Any number of spatial axes (NCHW -> NHWC for images)."""
    if data_format == "channels_first":
        xp = devices.array_module_of(x)
        return xp.ascontiguousarray(xp.moveaxis(x, 1, -1))
    return x


def from_channels_last(x, data_format):
    """Undo ``to_channels_last``: (N, *spatial, C) -> (N, C, *spatial) for channels_first (a view)."""
    return devices.array_module_of(x).moveaxis(x, -1, 1) if data_format == "channels_first" else x


def shape_to_channels_last(shape, data_format):
    shape = tuple(shape)
    return (shape[0],) + shape[2:] + (shape[1],) if data_format == "channels_first" else shape


def shape_from_channels_last(shape, data_format):
    shape = tuple(shape)
    return (shape[0], shape[-1]) + shape[1:-1] if data_format == "channels_first" else shape


def contiguous(x, dtype=None):
    """``x`` as a C-contiguous array (of ``dtype`` if given) on its own device: itself when it already is."""
    return devices.array_module_of(x).ascontiguousarray(x, dtype=dtype)


def zero_pad(x, widths):
    """``x`` with zeros around it, ``widths`` one (before, after) pair per axis, on ``x``'s device;
    ``x`` itself when every width is 0 (no copy)."""
    if not any(before or after for before, after in widths):
        return x
    return devices.array_module_of(x).pad(x, widths)
