# cython: language_level=3
"""Max and average pooling, compiled (Cython + OpenMP); twin of ``kernels/reference/pooling.py``.

Same functions, same results (the reference's docstrings give the formulas).  The Python
wrappers validate everything with the shared checks (``kernels/checks``), then hand contiguous arrays to
loops that run without bounds checks and without the GIL.

Parallelism:
* forward passes write each output cell once, so any split is safe: ``prange`` over the
  (sample, output row) pairs keeps both threads busy even with a batch of one;
* backward passes *scatter* into dx, and overlapping windows write the same dx cell, so
  the work is split by (sample, block of channels): a thread writes only its own sample's
  channels and two threads never touch the same cell.  Within a block the order of the
  additions is fixed, so the result doesn't depend on the number of threads.

Fast paths for windows that do not overlap (the usual pool == strides):
* average-pooling backward writes each dx row once, straight from dy (no zero-fill pass,
  no scatter), split by (sample, window row): the rows one window row covers are equal, so
  the first is computed and the others copied;
* average-pooling forward of few channels sums each window's rows first, one long loop over
  a whole image row, then each window's columns (``avg_pool_row_by_column_sums``);
* max-pooling backward only gets dy, argmax and the input shape, so it *tries* tiles: the
  input cut into OH x OW tiles of (H // OH, W // OW) cells.  When every winner lies in its
  own window's tile, no two windows share a winner, and one pass per tile row writes dx:
  zeros, then each dy at its winner, split by (sample, output row).  The pass checks every
  winner; if one lies outside its tile (overlapping windows, padding) the general scatter
  runs instead.  Both give the reference's numbers exactly.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t, uint64_t

# The argument checks are shared with the reference: one set of rules, one set of messages.
from tinyconv.kernels.checks.pooling import (
    check_cells_numbered,
    check_avg_pool_backward,
    check_float_array,
    check_input_shape,
    check_max_pool_backward,
    check_pool_forward,
)

from tinyconv.kernels.cpu.parallel cimport threads_for
from tinyconv.kernels.cpu.pool_geometry cimport Geometry, make_geometry
from tinyconv.kernels.cpu.pool_order cimport WINDOW_BLOCK, take_larger

cdef enum:
    # Channels per backward work item: small enough to give threads work when N is small.
    CHANNEL_BLOCK = 16
    # Average-pooling forward sums window rows first (one long loop over a whole image row)
    # below this many channels: a window's per-cell loops over so few channels are mostly
    # overhead (6 channels, 2x2 windows, N=64 28x28: 285 -> 156 us on the 2-core VM).  With
    # more, each cell's loop is long already and the extra pass over a row buffer costs more.
    ROW_SUMS_MAX_CHANNELS = 31



cdef inline Py_ssize_t clip_start(Py_ssize_t start) noexcept nogil:
    return start if start > 0 else 0


cdef inline Py_ssize_t clip_stop(Py_ssize_t stop, Py_ssize_t size) noexcept nogil:
    return stop if stop < size else size


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------
cdef void max_pool_row(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax,
                       Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    """One output row of one sample: every window's max and where it was.

    The running max and winner of a block of channels live in local arrays (pool_order.pxd's
    take_larger says why).  Ties keep the first cell in row-major order, as np.argmax does in
    the reference; a NaN always takes over (see pool_order.pxd).
    """
    cdef Py_ssize_t ow, h, w, c, c0, width, h0, h1, w0, w1
    cdef floating best[WINDOW_BLOCK]
    cdef int32_t winner[WINDOW_BLOCK]
    h0 = clip_start(oh * g.stride_h - g.pad_top)
    h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    for ow in range(g.out_w):
        w0 = clip_start(ow * g.stride_w - g.pad_left)
        w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
        c0 = 0
        while c0 < g.channels:
            width = min(<Py_ssize_t>WINDOW_BLOCK, g.channels - c0)
            # Start from the window's first real cell (pads < pool, so there always is one) ...
            for c in range(width):
                best[c] = x[n, h0, w0, c0 + c]
                winner[c] = <int32_t>(h0 * g.width + w0)
            # ... and let a later cell take over only when it beats the best so far.
            for h in range(h0, h1):
                for w in range(w0, w1):
                    take_larger(best, winner, &x[n, h, w, c0], <int32_t>(h * g.width + w), width)
            for c in range(width):
                y[n, oh, ow, c0 + c] = best[c]
                argmax[n, oh, ow, c0 + c] = winner[c]
            c0 += WINDOW_BLOCK


cdef void _max_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] argmax,
                            Geometry g) noexcept:
    cdef Py_ssize_t row, rows = x.shape[0] * g.out_h
    cdef int threads = threads_for(x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3])
    for row in prange(rows, nogil=True, schedule="guided", num_threads=threads):
        max_pool_row(x, y, argmax, row // g.out_h, row % g.out_h, g)


cdef void route_block_to_winners(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] argmax,
                                 floating[:, :, :, ::1] dx, Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1,
                                 Geometry g) noexcept nogil:
    """Channels [c0, c1) of sample n: each dy goes to the cell that won its window's max.

    The winner is stored as h * width + w, so its channel c sits at winner * C + c from the
    sample's first number: no division needed to find it.
    """
    cdef Py_ssize_t oh, ow, c
    cdef floating* sample = &dx[n, 0, 0, 0]
    cdef const floating* grads
    cdef const int64_t* winners
    for oh in range(g.out_h):
        for ow in range(g.out_w):
            grads = &dy[n, oh, ow, 0]
            winners = &argmax[n, oh, ow, 0]
            for c in range(c0, c1):
                sample[winners[c] * g.channels + c] += grads[c]


cdef void _max_pool_backward(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] argmax, floating[:, :, :, ::1] dx,
                             Geometry g) noexcept:
    """The general scatter: any windows, overlapping or not."""
    cdef Py_ssize_t item, block, n, blocks, width
    cdef int threads = threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3])
    # Whole samples when there are enough of them to share out (contiguous reads); blocks of
    # channels when the batch is too small to keep the threads busy.
    width = g.channels if dy.shape[0] >= 4 * threads else CHANNEL_BLOCK
    blocks = (g.channels + width - 1) // width
    for item in prange(dy.shape[0] * blocks, nogil=True, schedule="guided", num_threads=threads):
        n = item // blocks
        block = item % blocks
        route_block_to_winners(dy, argmax, dx, n, block * width, clip_stop((block + 1) * width, g.channels), g)


cdef struct Tiles:
    # The input cut into tiles of tile_h x tile_w cells, one per window, row-major.
    Py_ssize_t tile_h, tile_w
    # A winner at flat offset d from its tile's first cell (h * width + w numbering) is in
    # the tile iff 0 <= d < span and inside[d]: the row-by-row pattern of the tile.
    Py_ssize_t span
    const unsigned char* inside


cdef inline int64_t tile_start(Py_ssize_t oh, Py_ssize_t ow, Tiles t, Geometry g) noexcept nogil:
    """Flat index of the first (top left) cell of window (oh, ow)'s tile."""
    return oh * t.tile_h * g.width + ow * t.tile_w


cdef inline bint in_tile(int64_t winner, int64_t start, Tiles t) noexcept nogil:
    cdef int64_t offset = winner - start
    return <uint64_t>offset < <uint64_t>t.span and t.inside[offset]


cdef Py_ssize_t winners_outside_tiles(const int64_t[:, :, :, ::1] argmax, Py_ssize_t n, Py_ssize_t oh,
                                      Tiles t, Geometry g) noexcept nogil:
    """How many winners of output row oh of sample n lie outside their window's tile."""
    cdef Py_ssize_t ow, c, outside = 0
    cdef int64_t start
    cdef const int64_t* winners
    for ow in range(g.out_w):
        winners = &argmax[n, oh, ow, 0]
        start = tile_start(oh, ow, t, g)
        for c in range(g.channels):
            outside += not in_tile(winners[c], start, t)
    return outside


cdef Py_ssize_t route_tile_row(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] argmax,
                               floating[:, :, :, ::1] dx, Py_ssize_t n, Py_ssize_t oh,
                               Tiles t, Geometry g) noexcept nogil:
    """dx rows oh*tile_h ... oh*tile_h + tile_h - 1 of sample n, written in one go.

    Those rows are contiguous and stay in cache: zero them, then add each dy at its winner
    (0 + dy, the reference's sum, bit for bit).  Returns how many winners lay outside their
    tile; those are skipped, and the caller then throws this dx away.
    """
    cdef Py_ssize_t ow, c, k, outside = 0
    cdef int64_t start, winner
    cdef floating* sample = &dx[n, 0, 0, 0]
    cdef floating* rows = &dx[n, oh * t.tile_h, 0, 0]
    cdef const floating* grads
    cdef const int64_t* winners
    for k in range(t.tile_h * g.width * g.channels):
        rows[k] = 0
    for ow in range(g.out_w):
        grads = &dy[n, oh, ow, 0]
        winners = &argmax[n, oh, ow, 0]
        start = tile_start(oh, ow, t, g)
        for c in range(g.channels):
            winner = winners[c]
            if in_tile(winner, start, t):
                sample[winner * g.channels + c] += grads[c]
            else:
                outside += 1
    return outside


cdef bint _max_pool_backward_tiled(const floating[:, :, :, ::1] dy, const int64_t[:, :, :, ::1] argmax,
                                   floating[:, :, :, ::1] dx, Tiles t, Geometry g) noexcept:
    """Tile rows in parallel (no two write the same dx cell); True if every winner was in its tile."""
    cdef Py_ssize_t row, outside = 0, rows = dy.shape[0] * g.out_h
    cdef int threads = threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3])
    # Overlapping windows show at once: check the first row before writing anything.
    if winners_outside_tiles(argmax, 0, 0, t, g):
        return False
    for row in prange(rows, nogil=True, schedule="guided", num_threads=threads):
        outside += route_tile_row(dy, argmax, dx, row // g.out_h, row % g.out_h, t, g)
    return outside == 0


def max_pool2d_forward(x, pool_size, strides, pads):
    """Max pooling; returns (y, argmax) exactly as the reference does."""
    pool, strides, pads, out_hw = check_pool_forward(x, pool_size, strides, pads)
    check_cells_numbered("max_pool2d_forward", x, 2)
    x = np.ascontiguousarray(x)
    n, channels = x.shape[0], x.shape[3]
    y = np.empty((n, *out_hw, channels), dtype=x.dtype)
    argmax = np.empty((n, *out_hw, channels), dtype=np.int64)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    if x.dtype == np.float32:
        _max_pool_forward[float](x, y, argmax, g)
    else:
        _max_pool_forward[double](x, y, argmax, g)
    return y, argmax


cdef bint shapes_fit(dy, argmax, tuple input_shape):
    """dy and argmax shaped as a max-pooling forward pass over input_shape gives them.

    Their values are not looked at: the tiled pass checks every winner itself.
    """
    return (isinstance(argmax, np.ndarray) and argmax.dtype == np.int64 and dy.ndim == 4
            and argmax.shape == dy.shape and dy.shape[0] == input_shape[0] and dy.shape[3] == input_shape[3])


cdef object route_within_tiles(dy, argmax, tuple input_shape, Geometry g):
    """dx from the tiled pass, or None when the winners don't fit in tiles."""
    cdef Tiles t
    cdef const unsigned char[::1] inside
    if dy.size == 0:
        return None
    t.tile_h, t.tile_w = g.height // g.out_h, g.width // g.out_w
    if t.tile_h == 0 or t.tile_w == 0:  # more windows than cells: they must overlap
        return None
    t.span = (t.tile_h - 1) * g.width + t.tile_w
    pattern = np.zeros(t.span, dtype=np.uint8)
    for row in range(t.tile_h):
        pattern[row * g.width:row * g.width + t.tile_w] = 1
    inside = pattern
    t.inside = &inside[0]
    dx = np.empty(input_shape, dtype=dy.dtype)
    if dy.dtype == np.float32:
        tiled = _max_pool_backward_tiled[float](dy, argmax, dx, t, g)
    else:
        tiled = _max_pool_backward_tiled[double](dy, argmax, dx, t, g)
    if not tiled:
        return None
    dx[:, g.out_h * t.tile_h:] = 0  # rows below the last tile row: no window reaches them
    return dx


def max_pool2d_backward(dy, argmax, input_shape):
    """dL/dx: route each upstream gradient to the input cell that won the max."""
    cdef Geometry g
    check_float_array(dy, "dy")
    input_shape = check_input_shape(input_shape)
    if shapes_fit(dy, argmax, input_shape):
        dy = np.ascontiguousarray(dy)
        argmax = np.ascontiguousarray(argmax)
        # Only height/width/channels and the output size matter for routing.
        g = make_geometry(input_shape, (1, 1), (1, 1), ((0, 0), (0, 0)), dy.shape[1:3])
        dx = route_within_tiles(dy, argmax, input_shape, g)
        if dx is not None:
            return dx
    # The general scatter: the full checks (argmax in range) first, as it writes there.
    input_shape = check_max_pool_backward(dy, argmax, input_shape)
    dx = np.zeros(input_shape, dtype=dy.dtype)
    g = make_geometry(input_shape, (1, 1), (1, 1), ((0, 0), (0, 0)), dy.shape[1:3])
    dy = np.ascontiguousarray(dy)
    argmax = np.ascontiguousarray(argmax)
    if dy.dtype == np.float32:
        _max_pool_backward[float](dy, argmax, dx, g)
    else:
        _max_pool_backward[double](dy, argmax, dx, g)
    return dx


# --------------------------------------------------------------------------------------------
# Average pooling
# --------------------------------------------------------------------------------------------
cdef void avg_pool_row(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                       Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    """One output row of one sample: each window's sum over its real cells / their count.

    The sum runs from 0 in row-major window order, so every thread count gives the same bits.
    """
    cdef Py_ssize_t ow, h, w, c, h0, h1, w0, w1
    cdef floating count
    cdef floating* sums
    cdef const floating* pixel
    h0 = clip_start(oh * g.stride_h - g.pad_top)
    h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    for ow in range(g.out_w):
        w0 = clip_start(ow * g.stride_w - g.pad_left)
        w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
        count = (h1 - h0) * (w1 - w0)  # padded cells are not counted
        sums = &y[n, oh, ow, 0]
        for c in range(g.channels):
            sums[c] = 0
        for h in range(h0, h1):
            for w in range(w0, w1):
                pixel = &x[n, h, w, 0]
                for c in range(g.channels):  # innermost: contiguous in NHWC
                    sums[c] += pixel[c]
        for c in range(g.channels):
            sums[c] /= count


cdef inline Py_ssize_t window_columns(Py_ssize_t ow, Geometry g) noexcept nogil:
    """How many real (unpadded) columns window column ow covers."""
    return (clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
            - clip_start(ow * g.stride_w - g.pad_left))


cdef void avg_pool_row_by_column_sums(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y,
                                      Py_ssize_t n, Py_ssize_t oh, floating* column_sums, Geometry g) noexcept nogil:
    """The same output row in steps that each loop over many numbers instead of a few channels:

        column_sums[w, c] = sum over the window's rows h of x[n, h, w, c]    (every column w)
        y[n, oh, ow, c]   = sum over the window's columns w of column_sums[w, c]
        y[n, oh, ow, c]  /= count, over each run of windows with the same count (the whole row
                            unless the padding makes the edge windows smaller)

    (the window's cells added in another order than ``avg_pool_row``'s, the same for any thread count).
    """
    cdef Py_ssize_t ow, run_end, h, w, k, c, h0, h1, w0, w1, columns
    cdef Py_ssize_t row_length = g.width * g.channels
    cdef floating count
    cdef floating* sums
    cdef floating* out = &y[n, oh, 0, 0]
    cdef const floating* source
    cdef const floating* column
    h0 = clip_start(oh * g.stride_h - g.pad_top)
    h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    source = &x[n, h0, 0, 0]
    for k in range(row_length):                # the window's first row ...
        column_sums[k] = source[k]
    for h in range(h0 + 1, h1):                # ... plus the others, one contiguous image row each
        source = &x[n, h, 0, 0]
        for k in range(row_length):
            column_sums[k] += source[k]
    for ow in range(g.out_w):
        w0 = clip_start(ow * g.stride_w - g.pad_left)
        w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
        sums = out + ow * g.channels
        column = column_sums + w0 * g.channels
        for c in range(g.channels):
            sums[c] = column[c]
        for w in range(w0 + 1, w1):
            column = column_sums + w * g.channels
            for c in range(g.channels):
                sums[c] += column[c]
    ow = 0
    while ow < g.out_w:
        columns = window_columns(ow, g)
        run_end = ow + 1
        while run_end < g.out_w and window_columns(run_end, g) == columns:
            run_end = run_end + 1
        count = (h1 - h0) * columns            # padded cells are not counted
        for k in range(ow * g.channels, run_end * g.channels):
            out[k] /= count
        ow = run_end


cdef void _avg_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, Geometry g,
                            floating[:, ::1] column_sums) noexcept:
    """``column_sums``: one image row of numbers per thread when the row sums are used, else None."""
    cdef Py_ssize_t row, rows = x.shape[0] * g.out_h
    cdef int threads
    cdef floating* own_sums = NULL
    if column_sums is None:
        threads = threads_for(x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3])
        for row in prange(rows, nogil=True, schedule="guided", num_threads=threads):
            avg_pool_row(x, y, row // g.out_h, row % g.out_h, g)
        return
    threads = column_sums.shape[0]              # the team its rows were made for (one per thread)
    # dynamic, about 16 chunks per thread: "guided" hands the first thread to arrive half the rows,
    # and a helper that wakes late then finishes last (N=256 28x28x6 on two threads: 622 -> 573 us)
    cdef Py_ssize_t chunk = max(1, rows // (16 * threads))
    with nogil, parallel(num_threads=threads):
        own_sums = &column_sums[threadid(), 0]
        for row in prange(rows, schedule="dynamic", chunksize=chunk):
            avg_pool_row_by_column_sums(x, y, row // g.out_h, row % g.out_h, own_sums, g)


cdef void spread_block_over_windows(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                                    Py_ssize_t n, Py_ssize_t c0, Py_ssize_t c1, Geometry g) noexcept nogil:
    """Channels [c0, c1) of sample n: each window's cells get dy/count; overlaps add up."""
    cdef Py_ssize_t oh, ow, h, w, c, h0, h1, w0, w1
    cdef floating count
    cdef floating* cell
    cdef const floating* grads
    for oh in range(g.out_h):
        h0 = clip_start(oh * g.stride_h - g.pad_top)
        h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
        for ow in range(g.out_w):
            w0 = clip_start(ow * g.stride_w - g.pad_left)
            w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
            count = (h1 - h0) * (w1 - w0)
            grads = &dy[n, oh, ow, 0]
            for h in range(h0, h1):
                for w in range(w0, w1):
                    cell = &dx[n, h, w, 0]
                    for c in range(c0, c1):
                        cell[c] += grads[c] / count


cdef void _avg_pool_backward(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, Geometry g) noexcept:
    """The general scatter: any windows, overlapping or not."""
    cdef Py_ssize_t item, block, n, blocks, width
    cdef int threads = threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3])
    # As for max pooling: whole samples when there are enough, else blocks of channels.
    width = g.channels if dy.shape[0] >= 4 * threads else CHANNEL_BLOCK
    blocks = (g.channels + width - 1) // width
    for item in prange(dy.shape[0] * blocks, nogil=True, schedule="guided", num_threads=threads):
        n = item // blocks
        block = item % blocks
        spread_block_over_windows(dy, dx, n, block * width, clip_stop((block + 1) * width, g.channels), g)


cdef void share_band_among_cells(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                                 Py_ssize_t n, Py_ssize_t oh, Geometry g) noexcept nogil:
    """The dx rows of window row oh of sample n when windows don't overlap: every cell written once.

    Window row oh owns the input rows from its first (oh * stride - pad_top) to the next one's
    (the last also owns any rows below it).  The rows its windows cover all get the same values:
    each window's cells 0 + dy/count (the reference's sum, bit for bit), cells no window covers 0.
    The first covered row is computed, the others are copies of it; uncovered rows are zeros.
    """
    cdef Py_ssize_t ow, h, w, c, h0, h1, w0, w1, k, band_start, band_stop, done = 0
    cdef Py_ssize_t row_length = g.width * g.channels
    cdef floating count
    cdef floating zero = 0
    cdef floating* first_row
    cdef floating* row
    cdef floating* cell
    cdef const floating* grads
    band_start = clip_start(oh * g.stride_h - g.pad_top)
    band_stop = g.height if oh == g.out_h - 1 else clip_stop((oh + 1) * g.stride_h - g.pad_top, g.height)
    h0 = band_start
    h1 = clip_stop(oh * g.stride_h - g.pad_top + g.pool_h, g.height)
    first_row = &dx[n, h0, 0, 0]
    for ow in range(g.out_w):
        w0 = clip_start(ow * g.stride_w - g.pad_left)
        w1 = clip_stop(ow * g.stride_w - g.pad_left + g.pool_w, g.width)
        count = (h1 - h0) * (w1 - w0)
        grads = &dy[n, oh, ow, 0]
        for k in range(done * g.channels, w0 * g.channels):  # the gap before this window
            first_row[k] = 0
        cell = first_row + w0 * g.channels
        for c in range(g.channels):                          # the window's first cell ...
            cell[c] = zero + grads[c] / count
        for k in range(g.channels, (w1 - w0) * g.channels):   # ... copied to its other cells
            cell[k] = cell[k - g.channels]
        done = w1
    for k in range(done * g.channels, row_length):            # after the last window
        first_row[k] = 0
    for h in range(h0 + 1, h1):
        row = &dx[n, h, 0, 0]
        for k in range(row_length):
            row[k] = first_row[k]
    for h in range(h1, band_stop):                           # rows between window rows (stride > pool)
        row = &dx[n, h, 0, 0]
        for k in range(row_length):
            row[k] = 0


cdef void _avg_pool_backward_disjoint(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                                      Geometry g) noexcept:
    """Bands of dx rows in parallel: with disjoint windows each band is its window row's own."""
    cdef Py_ssize_t band, bands = dx.shape[0] * g.out_h
    cdef int threads = threads_for(dx.shape[0] * dx.shape[1] * dx.shape[2] * dx.shape[3])
    for band in prange(bands, nogil=True, schedule="guided", num_threads=threads):
        share_band_among_cells(dy, dx, band // g.out_h, band % g.out_h, g)


def avg_pool2d_forward(x, pool_size, strides, pads):
    """Average pooling over the real (unpadded) cells of each window."""
    pool, strides, pads, out_hw = check_pool_forward(x, pool_size, strides, pads)
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    cdef Geometry g = make_geometry(x.shape, pool, strides, pads, out_hw)
    column_sums = None
    if x.shape[3] <= ROW_SUMS_MAX_CHANNELS and y.size:
        threads = threads_for(x.size)
        # one row per thread, each a cache line longer than whole lines, so no two threads write one line
        per_line = 64 // x.itemsize
        row_length = (x.shape[2] * x.shape[3] + per_line - 1) // per_line * per_line + per_line
        column_sums = np.empty((threads, row_length), dtype=x.dtype)
    if x.dtype == np.float32:
        _avg_pool_forward[float](x, y, g, column_sums)
    else:
        _avg_pool_forward[double](x, y, g, column_sums)
    return y


def avg_pool2d_backward(dy, input_shape, pool_size, strides, pads):
    """dL/dx for average pooling."""
    input_shape, pool, strides, pads, out_hw = check_avg_pool_backward(dy, input_shape, pool_size, strides, pads)
    cdef Geometry g = make_geometry(input_shape, pool, strides, pads, out_hw)
    dy = np.ascontiguousarray(dy)
    disjoint = strides[0] >= pool[0] and strides[1] >= pool[1]
    if disjoint:  # every dx cell written exactly once: no zero-fill needed
        dx = np.empty(input_shape, dtype=dy.dtype)
        if dy.dtype == np.float32:
            _avg_pool_backward_disjoint[float](dy, dx, g)
        else:
            _avg_pool_backward_disjoint[double](dy, dx, g)
    else:
        dx = np.zeros(input_shape, dtype=dy.dtype)
        if dy.dtype == np.float32:
            _avg_pool_backward[float](dy, dx, g)
        else:
            _avg_pool_backward[double](dy, dx, g)
    return dx
