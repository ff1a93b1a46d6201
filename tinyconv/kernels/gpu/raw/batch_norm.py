"""Batch normalisation's per-channel reductions as raw CUDA kernels: one launch each.

Batch norm reduces an (M, C) matrix - M rows (every position of every sample), C channels - to
per-channel numbers: the mean and variance in the forward pass, the sums dbeta and dgamma in the
backward pass.  M is large and C small, the shape a GPU reduces worst: CuPy gives a reduction over
few columns one or two thread blocks.  Each kernel here splits the rows into *chunks* and the
channels into *tiles*; one thread block reduces one chunk of one tile, and the block that finishes
last among the chunks of a tile combines their partial results - so the whole reduction, spread
over many blocks, is still one launch:

* ``tinyconv_batch_norm_statistics``: per chunk k of n_k rows, its mean m_k and the sum of squared
  deviations from it, M2_k = sum_(i in k) (x_i - m_k)^2 (two passes over rows that stay in cache).
  The chunks combine exactly (Chan, Golub and LeVeque's parallel variance):

      mean = sum_k n_k m_k / M
      var  = sum_k (M2_k + n_k (m_k - mean)^2) / M            (biased, as the layer's)

  Every term of the variance is a sum of squares, so it never loses digits to cancellation as
  E[x^2] - mean^2 would.  The same block writes inv_std = 1 / sqrt(var + epsilon) and, when asked,
  updates the layer's moving statistics in place: moving = momentum * moving + (1 - momentum) * batch.
* ``tinyconv_batch_norm_gradient_sums``: per chunk the sums of dy and dy * xhat (xhat = (x - mean)
  * inv_std); the last block adds the chunks' sums into dbeta and dgamma.

"The block that finishes last": each block writes its partial results, makes them visible to the
whole GPU (``__threadfence``), and takes a ticket from its tile's counter (``atomicAdd``); the block
holding the last ticket reads every chunk's partials and sets the counter back to 0 for the next
launch.  The counters are one ``__device__`` array per compiled module, so launches of these
kernels must not overlap in time (they do not: tinyconv queues its kernels on one stream).

``chunked_statistics`` and ``chunked_gradient_sums`` are the readable twins: the same chunks, the
same formulas, in NumPy; ``layout`` decides the chunks for both.  32-bit indices and at most
``MAX_TILES`` channel tiles: ``fits`` says when the kernels apply.
"""
import numpy as np

from ._cuda import KernelFamily, fits_int32, ints

ENTRY_POINTS = ("tinyconv_batch_norm_statistics", "tinyconv_batch_norm_gradient_sums")

BLOCK = 256              # threads per block; the source's TINYCONV_BLOCK
MAX_TILES = 1024         # channel tiles with a ticket counter; the source's TINYCONV_MAX_TILES
ROWS_PER_THREAD = 16     # a chunk gives each thread about this many rows
MAX_CHUNKS = 1024        # more rows make longer chunks, so the last block's combine stays short

SOURCE = r"""
#define TINYCONV_BLOCK 256
#define TINYCONV_MAX_TILES 1024

// One ticket counter per channel tile: how many chunks of the tile are done (0 between launches).
__device__ unsigned int tinyconv_batch_norm_tickets[TINYCONV_MAX_TILES];

// A block is tile_width channel lanes side by side times row_lanes row lanes: thread t works on
// channel lane t % tile_width and row lane t / tile_width (tile_width divides TINYCONV_BLOCK).
// Sums value over the row lanes; every thread receives the total of its channel lane.
__device__ scalar_t sum_over_row_lanes(scalar_t value, scalar_t* shared, int tile_width)
{
    int row_lane = threadIdx.x / tile_width, row_lanes = blockDim.x / tile_width;
    shared[threadIdx.x] = value;
    __syncthreads();
    for (int half = row_lanes / 2; half > 0; half /= 2) {
        if (row_lane < half) shared[threadIdx.x] += shared[threadIdx.x + half * tile_width];
        __syncthreads();
    }
    scalar_t total = shared[threadIdx.x % tile_width];
    __syncthreads();                                 // shared is reused by the next sum
    return total;
}

// Called by every thread after this block wrote its partials: true in the block that finished last
// among the chunks (blockIdx.y) of its channel tile (blockIdx.x), once every partial is visible.
__device__ bool finished_last(bool* is_last)
{
    __threadfence();                                 // this block's partials reach the whole GPU first
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned int ticket = atomicAdd(&tinyconv_batch_norm_tickets[blockIdx.x], 1u);
        *is_last = ticket == gridDim.y - 1;
    }
    __syncthreads();
    return *is_last;
}

__device__ int chunk_size(int k, int chunk_rows, int rows)
{
    return min(chunk_rows, rows - k * chunk_rows);
}

// mean, var, inv_std (and, with update_moving, the moving statistics) of the columns of x (rows, channels).
extern "C" __global__ void tinyconv_batch_norm_statistics(
        const scalar_t* x, scalar_t* chunk_mean, scalar_t* chunk_m2,
        scalar_t* mean, scalar_t* var, scalar_t* inv_std, scalar_t* moving_mean, scalar_t* moving_variance,
        int rows, int channels, int chunk_rows, int tile_width,
        scalar_t epsilon, scalar_t momentum, scalar_t rest, int update_moving)
{
    __shared__ scalar_t shared[TINYCONV_BLOCK];
    __shared__ bool is_last;
    int row_lane = threadIdx.x / tile_width, row_lanes = blockDim.x / tile_width;
    int c = blockIdx.x * tile_width + threadIdx.x % tile_width;
    bool active = c < channels;                      // the last tile may be narrower than tile_width
    int k = blockIdx.y, first = k * chunk_rows, end = first + chunk_size(k, chunk_rows, rows);

    // 1. this chunk: its mean m_k, then M2_k = sum (x - m_k)^2
    scalar_t sum = 0;
    if (active) for (int r = first + row_lane; r < end; r += row_lanes) sum += x[r * channels + c];
    scalar_t m_k = sum_over_row_lanes(sum, shared, tile_width) / (scalar_t)(end - first);
    scalar_t squares = 0;
    if (active) for (int r = first + row_lane; r < end; r += row_lanes) {
        scalar_t d = x[r * channels + c] - m_k;
        squares += d * d;
    }
    scalar_t m2_k = sum_over_row_lanes(squares, shared, tile_width);
    if (active && row_lane == 0) {
        chunk_mean[k * channels + c] = m_k;
        chunk_m2[k * channels + c] = m2_k;
    }
    if (!finished_last(&is_last)) return;

    // 2. the last block of the tile: mean = sum n_k m_k / M, var = sum (M2_k + n_k (m_k - mean)^2) / M
    int chunks = gridDim.y;
    scalar_t weighted = 0;
    if (active) for (int j = row_lane; j < chunks; j += row_lanes)
        weighted += (scalar_t)chunk_size(j, chunk_rows, rows) * __ldcg(chunk_mean + j * channels + c);
    scalar_t total_mean = sum_over_row_lanes(weighted, shared, tile_width) / (scalar_t)rows;
    scalar_t spread = 0;
    if (active) for (int j = row_lane; j < chunks; j += row_lanes) {
        scalar_t d = __ldcg(chunk_mean + j * channels + c) - total_mean;
        spread += __ldcg(chunk_m2 + j * channels + c) + (scalar_t)chunk_size(j, chunk_rows, rows) * d * d;
    }
    scalar_t total_m2 = sum_over_row_lanes(spread, shared, tile_width);
    if (active && row_lane == 0) {
        scalar_t v = total_m2 / (scalar_t)rows;
        mean[c] = total_mean;
        var[c] = v;
        inv_std[c] = (scalar_t)1 / sqrt(v + epsilon);
        if (update_moving) {
            moving_mean[c] = moving_mean[c] * momentum + rest * total_mean;
            moving_variance[c] = moving_variance[c] * momentum + rest * v;
        }
    }
    if (threadIdx.x == 0) tinyconv_batch_norm_tickets[blockIdx.x] = 0;   // ready for the next launch
}

// dbeta = sum dy and dgamma = sum dy * (x - mean) * inv_std over the rows, per channel.
extern "C" __global__ void tinyconv_batch_norm_gradient_sums(
        const scalar_t* dy, const scalar_t* x, const scalar_t* mean, const scalar_t* inv_std,
        scalar_t* chunk_dbeta, scalar_t* chunk_dgamma, scalar_t* dbeta, scalar_t* dgamma,
        int rows, int channels, int chunk_rows, int tile_width)
{
    __shared__ scalar_t shared[TINYCONV_BLOCK];
    __shared__ bool is_last;
    int row_lane = threadIdx.x / tile_width, row_lanes = blockDim.x / tile_width;
    int c = blockIdx.x * tile_width + threadIdx.x % tile_width;
    bool active = c < channels;
    int k = blockIdx.y, first = k * chunk_rows, end = first + chunk_size(k, chunk_rows, rows);

    scalar_t mu = active ? mean[c] : (scalar_t)0, scale = active ? inv_std[c] : (scalar_t)0;
    scalar_t sum_dy = 0, sum_dy_xhat = 0;
    if (active) for (int r = first + row_lane; r < end; r += row_lanes) {
        scalar_t g = dy[r * channels + c];
        sum_dy += g;
        sum_dy_xhat += g * ((x[r * channels + c] - mu) * scale);
    }
    scalar_t chunk_sum_dy = sum_over_row_lanes(sum_dy, shared, tile_width);
    scalar_t chunk_sum_dy_xhat = sum_over_row_lanes(sum_dy_xhat, shared, tile_width);
    if (active && row_lane == 0) {
        chunk_dbeta[k * channels + c] = chunk_sum_dy;
        chunk_dgamma[k * channels + c] = chunk_sum_dy_xhat;
    }
    if (!finished_last(&is_last)) return;

    scalar_t beta_part = 0, gamma_part = 0;
    if (active) for (int j = row_lane; j < gridDim.y; j += row_lanes) {
        beta_part += __ldcg(chunk_dbeta + j * channels + c);
        gamma_part += __ldcg(chunk_dgamma + j * channels + c);
    }
    scalar_t total_dbeta = sum_over_row_lanes(beta_part, shared, tile_width);
    scalar_t total_dgamma = sum_over_row_lanes(gamma_part, shared, tile_width);
    if (active && row_lane == 0) {
        dbeta[c] = total_dbeta;
        dgamma[c] = total_dgamma;
    }
    if (threadIdx.x == 0) tinyconv_batch_norm_tickets[blockIdx.x] = 0;
}
"""


# ----------------------------------------------------------------------------------------------
# how the rows and channels are split
# ----------------------------------------------------------------------------------------------
def layout(rows, channels):
    """(tile_width, chunk_rows, tiles, chunks) for an (rows, channels) matrix.

    A tile is the smallest power of two >= channels, at most 32 (one warp reads 32 neighbouring
    channels of a row: coalesced); the rest of a block's 256 threads are row lanes.  A chunk gives
    each row lane ``ROWS_PER_THREAD`` rows, longer when that would make more than ``MAX_CHUNKS``:
    a large M is reduced by many blocks, and the last block's combine stays short.
    """
    tile_width = 1
    while tile_width < min(int(channels), 32):
        tile_width *= 2
    row_lanes = BLOCK // tile_width
    chunk_rows = max(row_lanes * ROWS_PER_THREAD, -(-int(rows) // MAX_CHUNKS))
    return tile_width, chunk_rows, -(-int(channels) // tile_width), -(-int(rows) // chunk_rows)


def fits(rows, channels):
    """True when the kernels apply: some rows, 32-bit indices, and a ticket counter for every tile."""
    return rows > 0 and channels > 0 and fits_int32(rows * channels) and layout(rows, channels)[2] <= MAX_TILES


# ----------------------------------------------------------------------------------------------
# the twins: the same chunks and formulas in NumPy
# ----------------------------------------------------------------------------------------------
def chunk_starts(rows, chunk_rows):
    """First row of every chunk, and every chunk's row count n_k (the last one may be shorter)."""
    starts = np.arange(0, rows, chunk_rows)
    return starts, np.minimum(chunk_rows, rows - starts)


def chunked_statistics(rows, moving_mean, moving_variance, epsilon, momentum, rest, chunk_rows):
    """Twin of ``tinyconv_batch_norm_statistics``: (mean, var, inv_std) of the columns of ``rows``.

    Per chunk k its mean m_k and M2_k = sum (x - m_k)^2, then mean = sum n_k m_k / M and
    var = sum (M2_k + n_k (m_k - mean)^2) / M.  ``moving_mean``/``moving_variance`` (or None: no update)
    become momentum * moving + rest * batch in place, rest = 1 - momentum.
    """
    m, dtype = rows.shape[0], rows.dtype
    starts, sizes = chunk_starts(m, chunk_rows)
    n_k = sizes.astype(dtype)[:, None]
    chunk_mean = np.add.reduceat(rows, starts, axis=0) / n_k
    deviation = rows - np.repeat(chunk_mean, sizes, axis=0)
    chunk_m2 = np.add.reduceat(deviation * deviation, starts, axis=0)
    mean = (n_k * chunk_mean).sum(axis=0) / dtype.type(m)
    spread = chunk_mean - mean
    var = (chunk_m2 + n_k * spread * spread).sum(axis=0) / dtype.type(m)
    inv_std = (dtype.type(1) / np.sqrt(var + dtype.type(epsilon))).astype(dtype, copy=False)
    if moving_mean is not None:
        moving_mean[...] = moving_mean * momentum + rest * mean
        moving_variance[...] = moving_variance * momentum + rest * var
    return mean.astype(dtype, copy=False), var.astype(dtype, copy=False), inv_std


def chunked_gradient_sums(dy, rows, mean, inv_std, chunk_rows):
    """Twin of ``tinyconv_batch_norm_gradient_sums``: (dbeta, dgamma) = column sums of dy and dy * xhat,
    chunk by chunk, then the chunks' sums added."""
    starts, _ = chunk_starts(rows.shape[0], chunk_rows)
    per_chunk_dbeta = np.add.reduceat(dy, starts, axis=0)
    per_chunk_dgamma = np.add.reduceat(dy * ((rows - mean) * inv_std), starts, axis=0)
    return per_chunk_dbeta.sum(axis=0), per_chunk_dgamma.sum(axis=0)


# ----------------------------------------------------------------------------------------------
# the compiled kernels
# ----------------------------------------------------------------------------------------------
def build_statistics(cupy):
    """The compiled statistics: the twin's arguments, one launch over (tiles, chunks) blocks."""
    family = KernelFamily(cupy, SOURCE)

    def statistics(rows, moving_mean, moving_variance, epsilon, momentum, rest, chunk_rows):
        rows = cupy.ascontiguousarray(rows)
        m, c = rows.shape
        dtype = rows.dtype
        tile_width, _, tiles, _ = layout(m, c)
        chunks = -(-m // chunk_rows)
        partial_mean, partial_m2 = cupy.empty((chunks, c), dtype), cupy.empty((chunks, c), dtype)
        mean, var, inv_std = (cupy.empty(c, dtype) for _ in range(3))
        update = moving_mean is not None
        target_mean, target_variance = (moving_mean, moving_variance) if update else (mean, var)
        family.function("tinyconv_batch_norm_statistics", dtype)(
            (tiles, chunks), (BLOCK,),
            (rows, partial_mean, partial_m2, mean, var, inv_std, target_mean, target_variance,
             *ints(m, c, chunk_rows, tile_width), dtype.type(epsilon), dtype.type(momentum), dtype.type(rest),
             np.int32(update)))
        return mean, var, inv_std
    return statistics


def build_gradient_sums(cupy):
    """The compiled gradient sums: the twin's arguments, one launch over (tiles, chunks) blocks."""
    family = KernelFamily(cupy, SOURCE)

    def gradient_sums(dy, rows, mean, inv_std, chunk_rows):
        dy, rows = cupy.ascontiguousarray(dy), cupy.ascontiguousarray(rows)
        m, c = rows.shape
        dtype = rows.dtype
        tile_width, _, tiles, _ = layout(m, c)
        chunks = -(-m // chunk_rows)
        partial_dbeta, partial_dgamma = cupy.empty((chunks, c), dtype), cupy.empty((chunks, c), dtype)
        dbeta, dgamma = cupy.empty(c, dtype), cupy.empty(c, dtype)
        family.function("tinyconv_batch_norm_gradient_sums", dtype)(
            (tiles, chunks), (BLOCK,),
            (dy, rows, mean, inv_std, partial_dbeta, partial_dgamma, dbeta, dgamma,
             *ints(m, c, chunk_rows, tile_width)))
        return dbeta, dgamma
    return gradient_sums
