"""Many arrays, one message: packing them into one contiguous buffer per dtype for a collective.

A collective costs a fixed latency plus its bytes over the bandwidth. One call per weight array
(a ResNet-20 has 65) pays the latency 65 times; one call for all of them pays it once, and a large
message is where MPI's bandwidth-optimal algorithms (reduce-scatter + all-gather) take over.
The buffer is allocated once and reused for every step with the same layout.
"""
import numpy as np

from .. import devices


def array_of(weight):
    """The array behind a weight: a layer's ``Variable`` holds it in ``.value``; a bare array is itself."""
    return getattr(weight, "value", weight)


class FusedBuffer:
    """One flat buffer per dtype holding copies of a fixed list of arrays (shapes and dtypes).

    Args:
        arrays: the arrays whose layout (shapes, dtypes, array module) the buffer takes.

    Example:

    >>> import numpy as np
    >>> a, b = np.ones((2, 2), np.float32), np.arange(3, dtype=np.float32)
    >>> fused = FusedBuffer([a, b])
    >>> [buffer.size for buffer in fused.buffers]
    [7]
    >>> fused.pack([a, b]); fused.buffers[0] *= 2
    >>> [v.tolist() for v in fused.views()]
    [[[2.0, 2.0], [2.0, 2.0]], [0.0, 2.0, 4.0]]
    """

    def __init__(self, arrays):
        arrays = [array_of(a) for a in arrays]
        self.layout = layout_of(arrays)
        sizes = {}
        self._places = []  # per array: (index of its dtype's buffer, offset, size, shape)
        dtype_index = {}
        for shape, dtype, _ in self.layout:
            index = dtype_index.setdefault(dtype, len(dtype_index))
            size = int(np.prod(shape, dtype=np.int64))
            self._places.append((index, sizes.get(index, 0), size, shape))
            sizes[index] = sizes.get(index, 0) + size
        xp = devices.array_module_of(arrays[0]) if arrays else np  # NumPy, or CuPy on a GPU
        self.buffers = [xp.empty(sizes[i], dtype=np.dtype(d)) for d, i in dtype_index.items()]

    def matches(self, arrays):
        """True when ``arrays`` have the layout this buffer was made for."""
        return layout_of(arrays) == self.layout

    def pack(self, arrays):
        """Copy ``arrays`` into the buffers."""
        for array, (index, offset, size, _) in zip(arrays, self._places):
            self.buffers[index][offset:offset + size] = array_of(array).reshape(-1)

    def views(self):
        """The arrays, as views into the buffers (no copies)."""
        return [self.buffers[index][offset:offset + size].reshape(shape)
                for index, offset, size, shape in self._places]

    def unpack_into(self, arrays):
        """Copy the buffers back into ``arrays``, in place (the arrays keep their identity)."""
        for array, view in zip(arrays, self.views()):
            array_of(array)[...] = view


def layout_of(arrays):
    """(shape, dtype name, array module name) of each array: what must agree for one buffer to fit."""
    arrays = [array_of(a) for a in arrays]
    return [(tuple(a.shape), np.dtype(a.dtype).name, type(a).__module__.split(".")[0]) for a in arrays]
