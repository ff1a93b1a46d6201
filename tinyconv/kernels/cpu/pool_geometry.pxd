# The geometry of a pooling window as plain C numbers, shared by the compiled poolings:
# pooling.pyx and pooling_variants.pyx (2-D, NHWC) and pooling3d.pyx (3-D, NDHWC).
# The constructors take what the argument checks (tinyconv.kernels.checks.pooling) return,
# already validated, so the loops that receive these structs need no checks of their own.

cdef struct Geometry:
    Py_ssize_t height, width, channels
    Py_ssize_t out_h, out_w
    Py_ssize_t pool_h, pool_w, stride_h, stride_w, pad_top, pad_left


cdef inline Geometry make_geometry(tuple input_shape, tuple pool, tuple strides, tuple pads, tuple out_hw):
    """input_shape (N, H, W, C); pads ((top, bottom), (left, right)): only the leading pads
    place a window, the trailing ones only made the output size (out_hw) larger."""
    cdef Geometry g
    g.height, g.width, g.channels = input_shape[1], input_shape[2], input_shape[3]
    g.out_h, g.out_w = out_hw
    g.pool_h, g.pool_w = pool
    g.stride_h, g.stride_w = strides
    g.pad_top, g.pad_left = pads[0][0], pads[1][0]
    return g


cdef struct Geometry3D:
    Py_ssize_t depth, height, width, channels
    Py_ssize_t out_d, out_h, out_w
    Py_ssize_t pool_d, pool_h, pool_w, stride_d, stride_h, stride_w, pad_front, pad_top, pad_left


cdef inline Geometry3D make_geometry3d(tuple input_shape, tuple pool, tuple strides, tuple pads, tuple out_dhw):
    """input_shape (N, D, H, W, C); pads ((front, back), (top, bottom), (left, right))."""
    cdef Geometry3D g
    g.depth, g.height, g.width, g.channels = input_shape[1], input_shape[2], input_shape[3], input_shape[4]
    g.out_d, g.out_h, g.out_w = out_dhw
    g.pool_d, g.pool_h, g.pool_w = pool
    g.stride_d, g.stride_h, g.stride_w = strides
    g.pad_front, g.pad_top, g.pad_left = pads[0][0], pads[1][0], pads[2][0]
    return g
