"""The optimizers' update rules as fused kernels over one flat buffer: one launch per step.

On the GPU a model's trainable weights of one dtype lie end to end in one buffer, and so do their
gradients and each optimizer slot (see ``tinyconv/optimizer_buffers.py``).  An update rule is
elementwise, so the whole step is one pass over those buffers: one ``cupy.ElementwiseKernel``
launch instead of about ten array operations per weight.

Every rule is written twice, side by side:

* its CUDA body (an ``ElementwiseSource``), run once per element: ``p`` the weight, ``g`` its
  gradient, ``m``, ``v``, ... its slots, updated in place;
* its NumPy twin, the same formula on whole arrays in the same order of operations as the
  per-weight rule in ``tinyconv/optimizers.py``: the readable version, and what runs on the CPU
  and on the test suite's CuPy stand-in (``kernels/gpu/fused.py`` picks).

Scalars (this step's learning rate, Adam's bias correction, ``lr * weight_decay``) are computed on
the host as Python floats, so a step never waits for the device; each is passed as ``T``, the
weights' dtype, which rounds it exactly as the per-weight rule's ``dtype.type(...)`` does.  The
kernels are compiled with ``--fmad=false``: no multiply-add contraction, so every operation rounds
as NumPy's does and the GPU step follows the CPU step operation for operation.

Gradient clipping runs before the update, as in the per-weight path: ``clipvalue`` is one
``clip``; ``clipnorm`` needs each weight's norm (``SEGMENT_SUM_OF_SQUARES``, a raw kernel with one
thread block per weight) then one scaling pass; ``global_clipnorm`` one reduction then one pass.
"""
from typing import NamedTuple

import numpy as np

from ... import devices
from . import fused


class ElementwiseSource(NamedTuple):
    """A ``cupy.ElementwiseKernel`` as source: its argument lists, its loop body and its name.

    ``scalars`` names the arguments passed as host numbers (the others are arrays, all of the
    flat buffer's length except ``raw`` ones).  The kernel's positional arguments are
    ``in_params`` then ``out_params``; the twin and the runner take the arrays in that order and
    the scalars by keyword.
    """
    name: str
    in_params: str
    out_params: str
    operation: str
    scalars: tuple = ()


class ReductionSource(NamedTuple):
    """A ``cupy.ReductionKernel`` as source (whole-array reduction to one value)."""
    name: str
    in_params: str
    out_params: str
    map_expr: str
    reduce_expr: str
    post_map_expr: str
    identity: str
    reduce_type: str


# Every operation rounds on its own, as NumPy's do (see the module docstring).
COMPILE_OPTIONS = ("--fmad=false",)

# Decoupled weight decay, before the rule (``decay`` is lr * weight_decay, 0 without decay).
_DECAY = "if (decay != 0) p -= decay * p;\n"


# --- SGD --------------------------------------------------------------------------------------------
SGD = ElementwiseSource(
    "optimizer_sgd", "T g, T lr, T decay", "T p",
    _DECAY + "p -= lr * g;",
    scalars=("lr", "decay"))

SGD_MOMENTUM = ElementwiseSource(
    "optimizer_sgd_momentum", "T g, T lr, T decay, T momentum", "T p, T m",
    _DECAY + """
    T step = lr * g;
    m = momentum * m - step;
    p += m;""",
    scalars=("lr", "decay", "momentum"))

SGD_NESTEROV = ElementwiseSource(
    "optimizer_sgd_nesterov", "T g, T lr, T decay, T momentum", "T p, T m",
    _DECAY + """
    T step = lr * g;
    m = momentum * m - step;
    p += momentum * m - step;""",
    scalars=("lr", "decay", "momentum"))


def sgd(g, p, *, lr, decay):
    """Plain SGD in place: ``p -= lr * g``."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    p -= f(lr) * g


def sgd_momentum(g, p, m, *, lr, decay, momentum):
    """SGD with momentum in place: ``m = momentum m - lr g;  p += m``."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    step = f(lr) * g
    m *= f(momentum)
    m -= step
    p += m


def sgd_nesterov(g, p, m, *, lr, decay, momentum):
    """Nesterov SGD in place: ``m = momentum m - lr g;  p += momentum m - lr g``."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    step = f(lr) * g
    m *= f(momentum)
    m -= step
    p += f(momentum) * m - step


# --- Adam (and AdamW: the same rule with weight decay) -----------------------------------------------
_ADAM_MOMENTS = """
    m += one_minus_beta_1 * (g - m);
    v += one_minus_beta_2 * (g * g - v);"""

ADAM = ElementwiseSource(
    "optimizer_adam", "T g, T alpha, T one_minus_beta_1, T one_minus_beta_2, T epsilon, T decay", "T p, T m, T v",
    _DECAY + _ADAM_MOMENTS + """
    p -= m * alpha / (sqrt(v) + epsilon);""",
    scalars=("alpha", "one_minus_beta_1", "one_minus_beta_2", "epsilon", "decay"))

ADAM_AMSGRAD = ElementwiseSource(
    "optimizer_adam_amsgrad", "T g, T alpha, T one_minus_beta_1, T one_minus_beta_2, T epsilon, T decay",
    "T p, T m, T v, T v_hat",
    _DECAY + _ADAM_MOMENTS + """
    v_hat = fmax(v_hat, v);
    p -= m * alpha / (sqrt(v_hat) + epsilon);""",
    scalars=("alpha", "one_minus_beta_1", "one_minus_beta_2", "epsilon", "decay"))


def _adam_moments(g, m, v, one_minus_beta_1, one_minus_beta_2):
    f = m.dtype.type
    m += f(one_minus_beta_1) * (g - m)
    v += f(one_minus_beta_2) * (g * g - v)


def adam(g, p, m, v, *, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, decay):
    """Adam in place; ``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)`` (the bias correction, from the host)."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    _adam_moments(g, m, v, one_minus_beta_1, one_minus_beta_2)
    p -= m * f(alpha) / (np.sqrt(v) + f(epsilon))


def adam_amsgrad(g, p, m, v, v_hat, *, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, decay):
    """AMSGrad in place: Adam dividing by the largest ``v`` seen so far."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    _adam_moments(g, m, v, one_minus_beta_1, one_minus_beta_2)
    np.maximum(v_hat, v, out=v_hat)
    p -= m * f(alpha) / (np.sqrt(v_hat) + f(epsilon))


# --- RMSprop: plain, with momentum, centered, or both ----------------------------------------------
_RMS = "\n    v = rho * v + one_minus_rho * g * g;"
_CENTER = "\n    a = rho * a + one_minus_rho * g;"
_RMS_SCALARS = ("lr", "rho", "one_minus_rho", "epsilon", "decay")

RMSPROP = ElementwiseSource(
    "optimizer_rmsprop", "T g, T lr, T rho, T one_minus_rho, T epsilon, T decay", "T p, T v",
    _DECAY + _RMS + """
    p -= lr * g / sqrt(v + epsilon);""",
    scalars=_RMS_SCALARS)

RMSPROP_MOMENTUM = ElementwiseSource(
    "optimizer_rmsprop_momentum", "T g, T lr, T rho, T one_minus_rho, T epsilon, T decay, T momentum",
    "T p, T v, T mom",
    _DECAY + _RMS + """
    mom = momentum * mom + lr * g / sqrt(v + epsilon);
    p -= mom;""",
    scalars=_RMS_SCALARS + ("momentum",))

RMSPROP_CENTERED = ElementwiseSource(
    "optimizer_rmsprop_centered", "T g, T lr, T rho, T one_minus_rho, T epsilon, T decay", "T p, T v, T a",
    _DECAY + _RMS + _CENTER + """
    p -= lr * g / sqrt(v - a * a + epsilon);""",
    scalars=_RMS_SCALARS)

RMSPROP_CENTERED_MOMENTUM = ElementwiseSource(
    "optimizer_rmsprop_centered_momentum", "T g, T lr, T rho, T one_minus_rho, T epsilon, T decay, T momentum",
    "T p, T v, T a, T mom",
    _DECAY + _RMS + _CENTER + """
    mom = momentum * mom + lr * g / sqrt(v - a * a + epsilon);
    p -= mom;""",
    scalars=_RMS_SCALARS + ("momentum",))


def _rms_increment(g, v, a, *, lr, rho, one_minus_rho, epsilon):
    """The running means of g^2 (and of g when centered), then lr g / sqrt(denominator)."""
    f = v.dtype.type
    v *= f(rho)
    v += f(one_minus_rho) * g * g
    if a is None:
        denominator = v + f(epsilon)
    else:
        a *= f(rho)
        a += f(one_minus_rho) * g
        denominator = v - a * a + f(epsilon)
    return f(lr) * g / np.sqrt(denominator)


def _rms_apply(p, increment, mom, momentum):
    if mom is None:
        p -= increment
        return
    mom *= p.dtype.type(momentum)
    mom += increment
    p -= mom


def rmsprop(g, p, v, *, lr, rho, one_minus_rho, epsilon, decay):
    """RMSprop in place: ``v = rho v + (1 - rho) g^2;  p -= lr g / sqrt(v + epsilon)``."""
    if decay:
        p -= p.dtype.type(decay) * p
    _rms_apply(p, _rms_increment(g, v, None, lr=lr, rho=rho, one_minus_rho=one_minus_rho, epsilon=epsilon),
               None, 0)


def rmsprop_momentum(g, p, v, mom, *, lr, rho, one_minus_rho, epsilon, decay, momentum):
    """RMSprop with momentum in place: ``mom = momentum mom + increment;  p -= mom``."""
    if decay:
        p -= p.dtype.type(decay) * p
    _rms_apply(p, _rms_increment(g, v, None, lr=lr, rho=rho, one_minus_rho=one_minus_rho, epsilon=epsilon),
               mom, momentum)


def rmsprop_centered(g, p, v, a, *, lr, rho, one_minus_rho, epsilon, decay):
    """Centered RMSprop in place: divides by the gradient's variance ``v - a^2``."""
    if decay:
        p -= p.dtype.type(decay) * p
    _rms_apply(p, _rms_increment(g, v, a, lr=lr, rho=rho, one_minus_rho=one_minus_rho, epsilon=epsilon),
               None, 0)


def rmsprop_centered_momentum(g, p, v, a, mom, *, lr, rho, one_minus_rho, epsilon, decay, momentum):
    """Centered RMSprop with momentum in place."""
    if decay:
        p -= p.dtype.type(decay) * p
    _rms_apply(p, _rms_increment(g, v, a, lr=lr, rho=rho, one_minus_rho=one_minus_rho, epsilon=epsilon),
               mom, momentum)


# --- Adagrad, Adamax, Nadam, Adadelta ------------------------------------------------------------------
ADAGRAD = ElementwiseSource(
    "optimizer_adagrad", "T g, T lr, T epsilon, T decay", "T p, T acc",
    _DECAY + """
    acc += g * g;
    p -= lr * g / sqrt(acc + epsilon);""",
    scalars=("lr", "epsilon", "decay"))

ADAMAX = ElementwiseSource(
    "optimizer_adamax", "T g, T lr, T one_minus_beta_1, T beta_2, T bias_correction, T epsilon, T decay",
    "T p, T m, T u",
    _DECAY + """
    m += one_minus_beta_1 * (g - m);
    u = fmax(beta_2 * u, fabs(g));
    p -= lr * m / (bias_correction * (u + epsilon));""",
    scalars=("lr", "one_minus_beta_1", "beta_2", "bias_correction", "epsilon", "decay"))

NADAM = ElementwiseSource(
    "optimizer_nadam",
    "T g, T lr, T one_minus_beta_1, T one_minus_beta_2, T momentum_weight, T gradient_weight, "
    "T bias_correction_2, T epsilon, T decay",
    "T p, T m, T v",
    _DECAY + _ADAM_MOMENTS + """
    T m_hat = momentum_weight * m + gradient_weight * g;
    T v_hat = v / bias_correction_2;
    p -= lr * m_hat / (sqrt(v_hat) + epsilon);""",
    scalars=("lr", "one_minus_beta_1", "one_minus_beta_2", "momentum_weight", "gradient_weight",
             "bias_correction_2", "epsilon", "decay"))

ADADELTA = ElementwiseSource(
    "optimizer_adadelta", "T g, T lr, T rho, T epsilon, T decay", "T p, T acc_grad, T acc_step",
    _DECAY + """
    T one_minus_rho = 1 - rho;
    acc_grad = rho * acc_grad + one_minus_rho * g * g;
    T step = -sqrt(acc_step + epsilon) / sqrt(acc_grad + epsilon) * g;
    acc_step = rho * acc_step + one_minus_rho * step * step;
    p += lr * step;""",
    scalars=("lr", "rho", "epsilon", "decay"))


def adagrad(g, p, acc, *, lr, epsilon, decay):
    """Adagrad in place: ``acc += g^2;  p -= lr g / sqrt(acc + epsilon)``."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    acc += g * g
    p -= f(lr) * g / np.sqrt(acc + f(epsilon))


def adamax(g, p, m, u, *, lr, one_minus_beta_1, beta_2, bias_correction, epsilon, decay):
    """Adamax in place: ``u = max(beta_2 u, |g|);  p -= lr m / ((1 - beta_1^t)(u + epsilon))``."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    m += f(one_minus_beta_1) * (g - m)
    np.maximum(f(beta_2) * u, np.abs(g), out=u)
    p -= f(lr) * m / (f(bias_correction) * (u + f(epsilon)))


def nadam(g, p, m, v, *, lr, one_minus_beta_1, one_minus_beta_2, momentum_weight, gradient_weight,
          bias_correction_2, epsilon, decay):
    """Nadam in place; the momentum schedule's weights come from the host (see ``optimizers.Nadam``)."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    _adam_moments(g, m, v, one_minus_beta_1, one_minus_beta_2)
    m_hat = f(momentum_weight) * m + f(gradient_weight) * g
    v_hat = v / f(bias_correction_2)
    p -= f(lr) * m_hat / (np.sqrt(v_hat) + f(epsilon))


def adadelta(g, p, acc_grad, acc_step, *, lr, rho, epsilon, decay):
    """Adadelta in place (``1 - rho`` taken in the weights' dtype, as the per-weight rule does)."""
    f = p.dtype.type
    if decay:
        p -= f(decay) * p
    rho, eps = f(rho), f(epsilon)
    acc_grad *= rho
    acc_grad += (1 - rho) * g * g
    step = -np.sqrt(acc_step + eps) / np.sqrt(acc_grad + eps) * g
    acc_step *= rho
    acc_step += (1 - rho) * step * step
    p += f(lr) * step


# --- gradient clipping -------------------------------------------------------------------------------
CLIP_BY_NORM = ElementwiseSource(
    "optimizer_clip_by_norm", "raw float64 sum_of_squares, int32 segment, float64 clipnorm", "T g",
    """
    double norm = sqrt(sum_of_squares[segment]);
    g = g * (T)(clipnorm / fmax(norm, clipnorm));""",
    scalars=("clipnorm",))

CLIP_BY_GLOBAL_NORM = ElementwiseSource(
    "optimizer_clip_by_global_norm", "raw float64 sum_of_squares, float64 clipnorm", "T g",
    """
    double norm = sqrt(sum_of_squares[0]);
    g = g * (T)(clipnorm / fmax(norm, clipnorm));""",
    scalars=("clipnorm",))

SUM_OF_SQUARES = ReductionSource(
    "optimizer_sum_of_squares", "T x", "float64 total",
    "(double)x * (double)x", "a + b", "total = a", "0", "float64")

# One thread block per weight (segment): each thread sums a strided share of the segment in
# double, then the block adds the shares up in shared memory.
SEGMENT_SUM_OF_SQUARES = r"""
template <typename T>
__device__ void segment_sum_of_squares(const T* g, const long long* starts, const long long* ends,
                                       double* out) {
    __shared__ double share[256];
    const long long start = starts[blockIdx.x], end = ends[blockIdx.x];
    double total = 0.0;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        const double x = (double)g[i];
        total += x * x;
    }
    share[threadIdx.x] = total;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) share[threadIdx.x] += share[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = share[0];
}

extern "C" __global__ void optimizer_segment_sum_of_squares_float32(
        const float* g, const long long* starts, const long long* ends, double* out) {
    segment_sum_of_squares<float>(g, starts, ends, out);
}

extern "C" __global__ void optimizer_segment_sum_of_squares_float64(
        const double* g, const long long* starts, const long long* ends, double* out) {
    segment_sum_of_squares<double>(g, starts, ends, out);
}
"""
SEGMENT_THREADS = 256  # the kernel's shared array holds one double per thread


def clip_by_norm(sum_of_squares, segment, g, *, clipnorm):
    """Scale each weight's gradient to L2 norm ``clipnorm`` at most: ``segment[i]`` is the weight
    element ``i`` belongs to, ``sum_of_squares[k]`` the squared norm of weight ``k``'s gradient."""
    scale = clipnorm / np.maximum(np.sqrt(sum_of_squares), clipnorm)
    g *= scale.astype(g.dtype)[segment]


def clip_by_global_norm(sum_of_squares, g, *, clipnorm):
    """Scale all gradients together to joint L2 norm ``clipnorm`` at most (``sum_of_squares``: the
    squared norm of all of them, a one-element array)."""
    scale = clipnorm / max(float(np.sqrt(sum_of_squares.reshape(-1)[0])), clipnorm)
    g *= g.dtype.type(scale)


def sum_of_squares(x):
    """sum(x^2) accumulated in float64."""
    return np.asarray(np.sum(np.square(x, dtype=np.float64)))


def segment_sum_of_squares(g, starts, ends, out):
    """``out[k] = sum(g[starts[k]:ends[k]] ^ 2)`` in float64: each weight's squared gradient norm."""
    for k, (start, end) in enumerate(zip(starts, ends)):
        out[k] = np.sum(np.square(g[start:end], dtype=np.float64))


# --- running them ---------------------------------------------------------------------------------------
TWINS = {
    SGD.name: sgd, SGD_MOMENTUM.name: sgd_momentum, SGD_NESTEROV.name: sgd_nesterov,
    ADAM.name: adam, ADAM_AMSGRAD.name: adam_amsgrad,
    RMSPROP.name: rmsprop, RMSPROP_MOMENTUM.name: rmsprop_momentum, RMSPROP_CENTERED.name: rmsprop_centered,
    RMSPROP_CENTERED_MOMENTUM.name: rmsprop_centered_momentum,
    ADAGRAD.name: adagrad, ADAMAX.name: adamax, NADAM.name: nadam, ADADELTA.name: adadelta,
    CLIP_BY_NORM.name: clip_by_norm, CLIP_BY_GLOBAL_NORM.name: clip_by_global_norm,
}
# The elementwise kernels, for compiling them without a GPU (``cuda_translation_unit``).
ELEMENTWISE_SOURCES = (SGD, SGD_MOMENTUM, SGD_NESTEROV, ADAM, ADAM_AMSGRAD, RMSPROP, RMSPROP_MOMENTUM,
                       RMSPROP_CENTERED, RMSPROP_CENTERED_MOMENTUM, ADAGRAD, ADAMAX, NADAM, ADADELTA,
                       CLIP_BY_NORM, CLIP_BY_GLOBAL_NORM)


def runs_on(array):
    """True when the fused kernels run where ``array`` lives: the GPU kernels' array module is its
    module (CuPy, or the test stand-in; not NumPy, whose arrays keep the per-weight path)."""
    module = fused.xp()
    return module is not np and module is devices.array_module_of(array)


def run_elementwise(source, *arrays, **scalars):
    """Run ``source`` on ``arrays`` (in its argument order) with host ``scalars``: one launch."""
    missing = set(source.scalars) - set(scalars)
    if missing:
        raise TypeError(f"fused_update.run_elementwise: {source.name} needs the scalars {sorted(missing)}")
    return fused.run(source.name, TWINS[source.name], lambda cupy: _elementwise_kernel(cupy, source),
                     *arrays, **scalars)


def run_sum_of_squares(x):
    """sum(x^2) in float64 as a one-element device array: one reduction launch, no host sync."""
    return fused.run(SUM_OF_SQUARES.name, sum_of_squares, _reduction_kernel, x)


def run_segment_sum_of_squares(g, starts, ends, out):
    """Each weight's squared gradient norm into ``out`` (float64, one entry per weight): one launch."""
    name = f"optimizer_segment_sum_of_squares_{np.dtype(g.dtype).name}"
    return fused.run(name, segment_sum_of_squares, lambda cupy: _segment_kernel(cupy, name), g, starts, ends, out)


def _argument_names(params):
    return [declaration.split()[-1] for declaration in params.split(",")]


def _elementwise_kernel(cupy, source):
    """Compile ``source`` with CuPy and return a caller with the twin's signature."""
    kernel = cupy.ElementwiseKernel(source.in_params, source.out_params, source.operation, source.name,
                                    options=COMPILE_OPTIONS)
    names = _argument_names(source.in_params) + _argument_names(source.out_params)

    def call(*arrays, **scalars):
        arrays = iter(arrays)
        kernel(*[scalars[name] if name in source.scalars else next(arrays) for name in names])
    return call


def _reduction_kernel(cupy):
    s = SUM_OF_SQUARES
    kernel = cupy.ReductionKernel(s.in_params, s.out_params, s.map_expr, s.reduce_expr, s.post_map_expr,
                                  s.identity, s.name, reduce_type=s.reduce_type, options=COMPILE_OPTIONS)
    return lambda x: kernel(x)


def _segment_kernel(cupy, name):
    kernel = cupy.RawKernel(SEGMENT_SUM_OF_SQUARES, name, options=COMPILE_OPTIONS)

    def call(g, starts, ends, out):
        if len(starts):
            kernel((len(starts),), (SEGMENT_THREADS,), (g, starts, ends, out))
    return call


# --- the CUDA of an elementwise kernel, for NVRTC without a GPU -------------------------------------------
_C_TYPES = {"float64": "double", "float32": "float", "int32": "int", "int64": "long long", "bool": "bool"}


def cuda_translation_unit(source, dtype="float32", target="cuda"):
    """``source`` as a standalone kernel with ``T`` = ``dtype``: what ``ElementwiseKernel`` generates,
    reduced to its essence (a loop binding each argument by name), so that its body can be compiled
    without a GPU - by NVRTC (``target="cuda"``), or as plain C++ by a CPU compiler (``"host"``: a
    serial loop in a function ``<name>_<dtype>``, which lets the test suite run the CUDA body on the
    CPU and compare its numbers with the twin's).

    Args:
        source: an ``ElementwiseSource``.
        dtype: ``"float32"`` or ``"float64"``, the weights' dtype.
        target: ``"cuda"`` or ``"host"``.

    Returns:
        The source text of one ``extern "C"`` function: ``n``, then the kernel's arguments in order
        (arrays as pointers, scalars by value).

    Raises:
        ValueError: for another dtype or target.

    Example:

    >>> text = cuda_translation_unit(SGD, "float32")
    >>> "typedef float T;" in text and "p -= lr * g;" in text
    True
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"cuda_translation_unit: dtype must be 'float32' or 'float64', got {dtype!r}")
    if target not in ("cuda", "host"):
        raise ValueError(f"cuda_translation_unit: target must be 'cuda' or 'host', got {target!r}")
    parameters, bindings = ["long long n"], []
    for params, writable in ((source.in_params, False), (source.out_params, True)):
        for declaration in params.split(","):
            words = declaration.split()
            raw, type_name, name = words[0] == "raw", words[-2], words[-1]
            c_type = "T" if type_name == "T" else _C_TYPES[type_name]
            if name in source.scalars:
                parameters.append(f"const {c_type} {name}")
            elif raw:
                parameters.append(f"const {c_type}* {name}")
            elif writable:
                parameters.append(f"{c_type}* {name}_array")
                bindings.append(f"{c_type}& {name} = {name}_array[i];")
            else:
                parameters.append(f"const {c_type}* {name}_array")
                bindings.append(f"const {c_type} {name} = {name}_array[i];")
    statements = [line.strip() for line in source.operation.splitlines() if line.strip()]
    body = "\n        ".join(bindings + statements)
    if target == "cuda":
        return (f"typedef {_C_TYPES[dtype]} T;\n"
                f"extern \"C\" __global__ void {source.name}({', '.join(parameters)}) {{\n"
                f"    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;\n"
                f"         i += (long long)blockDim.x * gridDim.x) {{\n"
                f"        {body}\n"
                f"    }}\n"
                f"}}\n")
    return (f"#include <cmath>\n"
            f"namespace {source.name}_{dtype}_unit {{\n"
            f"using std::sqrt; using std::fmax; using std::fabs;\n"
            f"typedef {_C_TYPES[dtype]} T;\n"
            f"extern \"C\" void {source.name}_{dtype}({', '.join(parameters)}) {{\n"
            f"    for (long long i = 0; i < n; ++i) {{\n"
            f"        {body}\n"
            f"    }}\n"
            f"}}\n"
            f"}}\n")
