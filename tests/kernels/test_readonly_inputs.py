"""Every compiled kernel takes every input its NumPy reference takes.

The reference kernels are plain NumPy, so they read any array: a read-only one (a memory-mapped
file, ``np.broadcast_to``, an array with ``flags.writeable = False``) or a strided view.  The
compiled twins must accept the same inputs and give the same numbers.  Each kernel of
``dispatch.KERNEL_NAMES`` is called here through both sets with

* every array argument read-only,
* every array argument a read-only strided (non-contiguous) view,
* (where the kernel takes a bias) a bias made by ``np.broadcast_to`` or sliced with a step.
"""
import numpy as np
import pytest

from tinyconv import dispatch
from tinyconv.kernels import cpu, reference

VALID2, VALID3 = ((0, 0), (0, 0)), ((0, 0),) * 3
PADS2 = ((1, 0), (0, 1))


def random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def distinct(rng, shape, dtype):
    """Tie-free values, so the winner of a max/min window is the same in both kernel sets."""
    values = rng.permutation(int(np.prod(shape))).astype(np.float64) / 7.0 - 3.0
    return values.reshape(shape).astype(dtype)


# --- one call per kernel: name -> a function (rng, dtype) -> the arguments ----------------------
# A backward kernel gets the outputs of its reference forward, as a layer would pass them.

def conv2d_args(rng, dtype):
    return random(rng, (2, 6, 5, 4), dtype), random(rng, (3, 2, 2, 6), dtype), random(rng, 6, dtype)


def conv3d_args(rng, dtype):
    return random(rng, (2, 4, 5, 4, 2), dtype), random(rng, (2, 3, 2, 2, 3), dtype), random(rng, 3, dtype)


def local_args(rng, dtype):
    x = random(rng, (2, 5, 6, 3), dtype)          # kernel 2x3, strides 1x2 -> output 4x2
    return x, random(rng, (8, 2 * 3 * 3, 4), dtype), random(rng, (4, 2, 4), dtype)


def tiled_args(rng, dtype):
    return random(rng, (2, 6, 6, 3), dtype), random(rng, (2, 2, 2, 2, 3, 4), dtype), random(rng, 4, dtype)


CONV2D = dict(strides=(1, 2), pads=PADS2, dilation=(2, 1), groups=2)
CONV3D = ((1, 2, 1), ((1, 0), (0, 1), (1, 1)), (1, 1, 2), 1)
POOL2D = ((3, 2), (2, 1), ((1, 1), (0, 1)))
POOL3D = ((2, 2, 1), (1, 2, 1), ((1, 0), (0, 1), (0, 0)))
LRN = (2, 1.0, 1e-2, 0.75)


def conv2d_forward(rng, dtype):
    x, kernel, bias = conv2d_args(rng, dtype)
    return x, kernel, bias, *CONV2D.values()


def conv2d_backward(rng, dtype):
    x, kernel, bias = conv2d_args(rng, dtype)
    y = reference.conv2d_forward(x, kernel, None, *CONV2D.values())
    return random(rng, y.shape, dtype), x, kernel, *CONV2D.values()


def conv3d_forward(rng, dtype):
    return (*conv3d_args(rng, dtype), *CONV3D)


def conv3d_backward(rng, dtype):
    x, kernel, _ = conv3d_args(rng, dtype)
    y = reference.conv3d_forward(x, kernel, None, *CONV3D)
    return random(rng, y.shape, dtype), x, kernel, *CONV3D


def locally_connected2d_forward(rng, dtype):
    return (*local_args(rng, dtype), (2, 3), (1, 2), (4, 2))


def locally_connected2d_backward(rng, dtype):
    x, kernel, _ = local_args(rng, dtype)
    return random(rng, (2, 4, 2, 4), dtype), x, kernel, (2, 3), (1, 2), (4, 2)


def tiled_conv2d_forward(rng, dtype):
    return (*tiled_args(rng, dtype), (2, 1), PADS2)


def tiled_conv2d_backward(rng, dtype):
    x, kernel, _ = tiled_args(rng, dtype)
    y = reference.tiled_conv2d_forward(x, kernel, None, (2, 1), PADS2)
    return random(rng, y.shape, dtype), x, kernel, (2, 1), PADS2


def pooled(name, x, *args):
    """The reference forward's output (the first of a pair) of a pooling kernel."""
    out = getattr(reference, name)(x, *args)
    return out[0] if isinstance(out, tuple) else out


def max_pool2d_forward(rng, dtype):
    return distinct(rng, (2, 5, 4, 3), dtype), *POOL2D


def max_pool2d_backward(rng, dtype):
    x = distinct(rng, (2, 5, 4, 3), dtype)
    y, argmax = reference.max_pool2d_forward(x, *POOL2D)
    return random(rng, y.shape, dtype), argmax, x.shape


def avg_pool2d_forward(rng, dtype):
    return random(rng, (2, 5, 4, 3), dtype), *POOL2D


def avg_pool2d_backward(rng, dtype):
    y = pooled("avg_pool2d_forward", random(rng, (2, 5, 4, 3), dtype), *POOL2D)
    return random(rng, y.shape, dtype), (2, 5, 4, 3), *POOL2D


def max_pool3d_forward(rng, dtype):
    return distinct(rng, (2, 3, 4, 3, 2), dtype), *POOL3D


def max_pool3d_backward(rng, dtype):
    x = distinct(rng, (2, 3, 4, 3, 2), dtype)
    y, argmax = reference.max_pool3d_forward(x, *POOL3D)
    return random(rng, y.shape, dtype), argmax, x.shape


def avg_pool3d_forward(rng, dtype):
    return random(rng, (2, 3, 4, 3, 2), dtype), *POOL3D


def avg_pool3d_backward(rng, dtype):
    y = pooled("avg_pool3d_forward", random(rng, (2, 3, 4, 3, 2), dtype), *POOL3D)
    return random(rng, y.shape, dtype), (2, 3, 4, 3, 2), *POOL3D


def min_pool2d_forward(rng, dtype):
    return distinct(rng, (2, 5, 4, 3), dtype), *POOL2D


def lp_pool2d_forward(rng, dtype):
    return random(rng, (2, 5, 4, 3), dtype), 2.0, *POOL2D


def lp_pool2d_backward(rng, dtype):
    x = random(rng, (2, 5, 4, 3), dtype)
    y = pooled("lp_pool2d_forward", x, 2.0, *POOL2D)
    return random(rng, y.shape, dtype), x, y, 2.0, *POOL2D


def logsumexp_pool2d_forward(rng, dtype):
    return random(rng, (2, 5, 4, 3), dtype), 2.0, *POOL2D


def logsumexp_pool2d_backward(rng, dtype):
    x = random(rng, (2, 5, 4, 3), dtype)
    y = pooled("logsumexp_pool2d_forward", x, 2.0, *POOL2D)
    return random(rng, y.shape, dtype), x, y, 2.0, *POOL2D


def weighted_pool2d_forward(rng, dtype):
    return random(rng, (2, 5, 4, 3), dtype), 1.0, *POOL2D


def weighted_pool2d_backward(rng, dtype):
    y = pooled("weighted_pool2d_forward", random(rng, (2, 5, 4, 3), dtype), 1.0, *POOL2D)
    return random(rng, y.shape, dtype), (2, 5, 4, 3), 1.0, *POOL2D


def upsample2d_nearest_forward(rng, dtype):
    return random(rng, (2, 3, 4, 3), dtype), (2, 3)


def upsample2d_nearest_backward(rng, dtype):
    return random(rng, (2, 6, 12, 3), dtype), (2, 3, 4, 3)


def upsample2d_bilinear_forward(rng, dtype):
    return random(rng, (2, 3, 4, 3), dtype), (2, 3)


def upsample2d_bilinear_backward(rng, dtype):
    return random(rng, (2, 6, 12, 3), dtype), (2, 3, 4, 3)


def batch_norm_forward_train(rng, dtype):
    return random(rng, (4, 3, 2, 5), dtype), random(rng, 5, dtype), random(rng, 5, dtype), 1e-3


def batch_norm_forward_infer(rng, dtype):
    x, gamma, beta = random(rng, (4, 3, 2, 5), dtype), random(rng, 5, dtype), random(rng, 5, dtype)
    return x, gamma, beta, random(rng, 5, dtype), np.abs(random(rng, 5, dtype)) + 0.5, 1e-3


def batch_norm_backward(rng, dtype):
    x, gamma, beta, epsilon = batch_norm_forward_train(rng, dtype)
    _, mean, _, inv_std = reference.batch_norm_forward_train(x, gamma, beta, epsilon)
    return random(rng, x.shape, dtype), x, gamma, mean, inv_std


def layer_norm_forward(rng, dtype):
    return random(rng, (3, 4, 6), dtype), random(rng, 6, dtype), random(rng, 6, dtype), 1e-3


def layer_norm_backward(rng, dtype):
    x, gamma, beta, epsilon = layer_norm_forward(rng, dtype)
    _, mean, inv_std = reference.layer_norm_forward(x, gamma, beta, epsilon)
    return random(rng, x.shape, dtype), x, gamma, mean, inv_std


def group_norm_forward(rng, dtype):
    return random(rng, (3, 4, 6), dtype), 3, random(rng, 6, dtype), random(rng, 6, dtype), 1e-3


def group_norm_backward(rng, dtype):
    x, groups, gamma, beta, epsilon = group_norm_forward(rng, dtype)
    _, mean, inv_std = reference.group_norm_forward(x, groups, gamma, beta, epsilon)
    return random(rng, x.shape, dtype), x, groups, gamma, mean, inv_std


def lrn_forward(rng, dtype):
    return random(rng, (2, 3, 4, 7), dtype), *LRN


def lrn_backward(rng, dtype):
    x = random(rng, (2, 3, 4, 7), dtype)
    _, denom = reference.lrn_forward(x, *LRN)
    return random(rng, x.shape, dtype), x, denom, *LRN


def activation_forward_cases(activation):
    return lambda rng, dtype: (random(rng, (3, 4, 5), dtype), activation)


def activation_backward_cases(activation):
    def args(rng, dtype):
        a = reference.activation_forward(random(rng, (3, 4, 5), dtype), activation)
        return random(rng, a.shape, dtype), a, activation
    return args


def bias_gradient(rng, dtype):
    return (random(rng, (3, 4, 5), dtype),)


def matmul(rng, dtype):
    return random(rng, (3, 4, 5), dtype), random(rng, (5, 6), dtype)


ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
CASES = {name: [(name, args)] for name, args in globals().items() if name in dispatch.KERNEL_NAMES}
CASES["activation_forward"] = [(f"activation_forward-{a}", activation_forward_cases(a)) for a in ACTIVATIONS]
CASES["activation_backward"] = [(f"activation_backward-{a}", activation_backward_cases(a)) for a in ACTIVATIONS]
ALL_CASES = [pytest.param(name, args, id=case_id) for name in dispatch.KERNEL_NAMES for case_id, args in CASES[name]]

BIAS_POSITION = {"conv2d_forward": 2, "conv3d_forward": 2, "locally_connected2d_forward": 2,
                 "tiled_conv2d_forward": 2}


def test_every_kernel_has_a_case():
    assert sorted(CASES) == sorted(dispatch.KERNEL_NAMES)


# --- the layouts an input may come in ------------------------------------------------------------

def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def strided_read_only(a):
    """The same values as a read-only view with a step in every axis (no axis is contiguous)."""
    holder = np.zeros(tuple(2 * n for n in a.shape), dtype=a.dtype)
    view = holder[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    view.flags.writeable = False
    return view


def broadcast_bias(a):
    """A read-only, stride-0 bias: np.broadcast_to of one value."""
    return np.broadcast_to(a.reshape(-1)[:1], a.shape)


def reshaped_args(args, layout, positions=None):
    return tuple(layout(a) if isinstance(a, np.ndarray) and (positions is None or i in positions) else a
                 for i, a in enumerate(args))


def assert_same(got, want, dtype):
    if not isinstance(want, tuple):
        got, want = (got,), (want,)
    assert len(got) == len(want)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def run_both(name, args):
    want = getattr(reference, name)(*args)
    got = getattr(cpu, name)(*args)
    return got, want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", [read_only, strided_read_only])
@pytest.mark.parametrize("name, make_args", ALL_CASES)
def test_compiled_kernel_takes_read_only_inputs(name, make_args, layout, dtype):
    args = reshaped_args(make_args(np.random.default_rng(7), dtype), layout)
    got, want = run_both(name, args)
    assert_same(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", [strided_read_only, broadcast_bias])
@pytest.mark.parametrize("name", sorted(BIAS_POSITION))
def test_compiled_kernel_takes_a_non_contiguous_bias(name, layout, dtype):
    (_, make_args), = CASES[name]
    args = make_args(np.random.default_rng(11), dtype)
    args = reshaped_args(args, layout, positions={BIAS_POSITION[name]})
    assert not args[BIAS_POSITION[name]].flags.c_contiguous
    got, want = run_both(name, args)
    assert_same(got, want, dtype)


def test_memory_mapped_input(tmp_path):
    """A read-only memory-mapped file, the everyday case of a read-only input."""
    x = random(np.random.default_rng(3), (2, 6, 5, 4), np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    _, kernel, bias = conv2d_args(np.random.default_rng(4), np.float32)
    got, want = run_both("conv2d_forward", (mapped, kernel, bias, *CONV2D.values()))
    assert_same(got, want, np.float32)
