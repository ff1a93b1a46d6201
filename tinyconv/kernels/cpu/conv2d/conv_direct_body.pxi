# The direct convolution for layers with few input channels (float32, stride 1, one group).
# Included by conv_direct.pyx (built for any CPU), conv_direct_avx2.pyx and conv_direct_avx512.pyx
# (the same code built for AVX2 + FMA and for AVX-512, chosen at run time by what the CPU has:
# builds.py): see conv_direct.pyx.
#
# The input is first copied, zero-padded, into *planes*: (N, C, Hp, Wp), one plane per
# channel, so that the KW pixels of a kernel row, for a run of consecutive output columns,
# are consecutive numbers in memory.  Then, for every output row (n, i), every block of TC_FB
# filters (4; 8 in the AVX-512 build) and every run of TC_RUN output columns j:
#
#     y[n, i, j, f] = b[f] + sum over taps (c, p, q) of  w[p, q, c, f] * planes[n, c, i + p*dh, j + q*dw]
#
# which ``tc_direct_forward_run`` (direct_micro.h) computes with the TC_FB x TC_RUN sums held in
# vector registers.  The run and filter block are written planar (filter-major) into a small
# per-thread buffer, then transposed into NHWC.  Planes are padded on the right so that the
# last run may read past the output width; those extra columns are computed and dropped.
#
# dL/dW is the same sum turned around: for every tap and filter,
#
#     dW[p, q, c, f] = sum over (n, i, j) of  planes[n, c, i + p*dh, j + q*dw] * dy[n, i, j, f]
#
# summed by ``tc_direct_weight_run`` over the rows of a fixed slice of the batch, with dy
# transposed to planar order first (zeros past the output width and the filter count; the
# columns past the output width are left out of the sums, as an inf or NaN input there would
# make 0 * inf = NaN).  Slices are fixed by the batch, not the thread count, and
# their partial sums are added in slice order: the same result on any number of threads.

import numpy as np

from cython.parallel cimport parallel, prange, threadid

cdef extern from "direct_micro.h" nogil:
    enum: TC_RUN
    enum: TC_FB
    void tc_direct_forward_run(const float* x, const Py_ssize_t* off, Py_ssize_t taps, const float* w,
                               const float* b, float* out, Py_ssize_t ld)
    void tc_direct_weight_run(const float* x, const Py_ssize_t* row, Py_ssize_t rows, Py_ssize_t tap,
                              const float* dy, Py_ssize_t dy_row, Py_ssize_t ld, Py_ssize_t width, float* sums)
    int tc_cpu_has_avx2_fma()
    int tc_cpu_has_avx512()

# Output columns per run, and filters per block: the planes' and weights' padding follow them.
RUN = TC_RUN
FILTER_BLOCK = TC_FB
# dy rows transposed at a time by one thread in the weight gradient (their planar copies stay
# in the core's cache while every tap reads them).
cdef enum:
    WEIGHT_ROWS = 32
WEIGHT_ROW_BLOCK = WEIGHT_ROWS


def cpu_has_avx2_fma():
    return bool(tc_cpu_has_avx2_fma())


def cpu_has_avx512():
    """True when this CPU can run the ``_avx512`` builds (AVX-512 F, VL, BW and DQ)."""
    return bool(tc_cpu_has_avx512())


def padded_width(Py_ssize_t out_w, Py_ssize_t kw, Py_ssize_t dw):
    """Output width rounded up to whole runs, and the plane width those runs read."""
    cdef Py_ssize_t runs = (out_w + TC_RUN - 1) // TC_RUN
    return runs * TC_RUN, runs * TC_RUN + (kw - 1) * dw


def fill_planes(const float[:, :, :, ::1] x, float[:, :, :, ::1] planes, Py_ssize_t top, Py_ssize_t left,
                int threads):
    """planes[n, c] = x[n, :, :, c] placed at (top, left), zeros around it."""
    cdef Py_ssize_t n_rows = planes.shape[0] * planes.shape[1] * planes.shape[2]
    cdef Py_ssize_t channels = planes.shape[1], hp = planes.shape[2], wp = planes.shape[3]
    cdef Py_ssize_t height = x.shape[1], width = x.shape[2]
    cdef Py_ssize_t r, n, c, h, w
    cdef float* target
    for r in prange(n_rows, nogil=True, schedule="guided", num_threads=threads):
        n = r // (channels * hp)
        c = (r // hp) % channels
        h = r % hp - top                              # the input row this plane row holds
        target = &planes[n, c, r % hp, 0]
        for w in range(wp):
            target[w] = 0
        if 0 <= h < height:
            for w in range(width):
                target[left + w] = x[n, h, w, c]


cdef void _tap_offsets(Py_ssize_t* off, Py_ssize_t channels, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t dh,
                       Py_ssize_t dw, Py_ssize_t hp, Py_ssize_t wp) noexcept nogil:
    """off[t] for tap t = (c, p, q): where that tap's pixel sits, from an output cell's row start."""
    cdef Py_ssize_t c, p, q, t = 0
    for c in range(channels):
        for p in range(kh):
            for q in range(kw):
                off[t] = c * hp * wp + p * dh * wp + q * dw
                t += 1


def forward(const float[:, :, :, ::1] planes, const float[:, :, ::1] weights, const float[::1] bias,
            float[:, :, :, ::1] y, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t dh, Py_ssize_t dw,
            Py_ssize_t[::1] offsets, float[:, ::1] workspace, int threads):
    """y = conv(planes): ``weights`` (filter blocks, taps, TC_FB), ``bias`` (blocks * TC_FB,);
    ``offsets``: room for the taps; ``workspace``: one row of blocks * TC_FB * padded width per thread."""
    cdef Py_ssize_t n_rows = y.shape[0] * y.shape[1], out_h = y.shape[1], out_w = y.shape[2]
    cdef Py_ssize_t filters = y.shape[3], blocks = weights.shape[0], taps = weights.shape[1]
    cdef Py_ssize_t hp = planes.shape[2], wp = planes.shape[3]
    cdef Py_ssize_t runs = (out_w + TC_RUN - 1) // TC_RUN, ld = runs * TC_RUN
    cdef Py_ssize_t r, fb, k, j, f
    cdef const float* source
    cdef float* planar = NULL             # set per thread; Cython copies it in first (firstprivate)
    cdef float* out
    _tap_offsets(&offsets[0], planes.shape[1], kh, kw, dh, dw, hp, wp)
    with nogil, parallel(num_threads=threads):
        planar = &workspace[threadid(), 0]
        for r in prange(n_rows, schedule="guided"):
            source = &planes[r // out_h, 0, r % out_h, 0]
            for fb in range(blocks):
                for k in range(runs):
                    tc_direct_forward_run(source + k * TC_RUN, &offsets[0], taps, &weights[fb, 0, 0],
                                          &bias[fb * TC_FB], planar + fb * TC_FB * ld + k * TC_RUN, ld)
            out = &y[r // out_h, r % out_h, 0, 0]
            for j in range(out_w):
                for f in range(filters):
                    out[j * filters + f] = planar[f * ld + j]


def weight_gradient(const float[:, :, :, ::1] planes, const float[:, :, :, ::1] dy, float[:, :, ::1] partial,
                    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t[::1] offsets,
                    float[:, ::1] workspace, Py_ssize_t[:, ::1] row_starts, int threads):
    """partial[s] = slice s's dL/dW, (taps, filter blocks * TC_FB) with taps ordered (c, p, q).
    ``workspace``: per thread, zeros for WEIGHT_ROWS planar dy rows; ``row_starts``:
    (threads, WEIGHT_ROWS)."""
    cdef Py_ssize_t n_rows = dy.shape[0] * dy.shape[1], out_h = dy.shape[1], out_w = dy.shape[2]
    cdef Py_ssize_t filters = dy.shape[3], slices = partial.shape[0], taps = partial.shape[1]
    cdef Py_ssize_t blocks = partial.shape[2] // TC_FB
    cdef Py_ssize_t channels = planes.shape[1], hp = planes.shape[2], wp = planes.shape[3]
    cdef Py_ssize_t runs = (out_w + TC_RUN - 1) // TC_RUN, ld = runs * TC_RUN, dy_row = blocks * TC_FB * ld
    cdef Py_ssize_t s, first, stop, count, r, t, fb, k, j, f
    cdef float* planar = NULL             # (both set per thread, as in forward)
    cdef Py_ssize_t* starts = NULL
    cdef float* sums
    cdef const float* grads
    _tap_offsets(&offsets[0], channels, kh, kw, dh, dw, hp, wp)
    with nogil, parallel(num_threads=threads):
        planar = &workspace[threadid(), 0]
        starts = &row_starts[threadid(), 0]
        for s in prange(slices, schedule="dynamic"):
            sums = &partial[s, 0, 0]
            for t in range(taps * blocks * TC_FB):
                sums[t] = 0
            first = s * n_rows // slices
            stop = (s + 1) * n_rows // slices
            while first < stop:
                count = min(WEIGHT_ROWS, stop - first)
                for r in range(count):             # dy rows to planar; the padding stays zero
                    starts[r] = ((first + r) // out_h) * channels * hp * wp + ((first + r) % out_h) * wp
                    grads = &dy[(first + r) // out_h, (first + r) % out_h, 0, 0]
                    for f in range(filters):         # (writes in order; the reads stay in L1)
                        for j in range(out_w):
                            planar[r * dy_row + f * ld + j] = grads[j * filters + f]
                for t in range(taps):
                    for fb in range(blocks):
                        for k in range(runs):
                            tc_direct_weight_run(&planes[0, 0, 0, 0], starts, count, offsets[t] + k * TC_RUN,
                                                 planar + fb * TC_FB * ld + k * TC_RUN, dy_row, ld,
                                                 out_w - k * TC_RUN, sums + t * blocks * TC_FB + fb * TC_FB)
                first = first + count
