"""The kernels' argument checks live in one place, ``tinyconv.kernels.checks``.

1. every kernel set (reference, cpu, gpu with xp = numpy) rejects a bad call with the same
   error type and the same message, because all three call the same check;
2. the reference modules define no checks of their own (they read formula first), and the
   compiled and GPU sets import none from the reference;
3. the compiled poolings share one declaration of their window geometry (pool_geometry.pxd).
"""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

from tinyconv.kernels import cpu, gpu, reference

# The kernels' sources in the tree these tests come from (an installed copy has no .pyx files).
KERNELS = Path(__file__).resolve().parents[2] / "tinyconv" / "kernels"
FAMILIES = ["activation", "conv", "conv3d", "local", "lrn", "normalization", "norms", "pooling", "pooling3d",
            "pooling_variants", "tiled", "upsampling"]
COMPILED = ["activation", "conv3d", "local", "lrn", "normalization", "norms", "pooling", "pooling3d",
            "pooling_variants", "tiled", "upsampling"]  # the 2-D convolution's files are checked apart

RNG = np.random.default_rng(0)
X4 = RNG.standard_normal((2, 6, 6, 4)).astype(np.float32)
X5 = RNG.standard_normal((1, 4, 4, 4, 2)).astype(np.float32)
VALID = ((0, 0), (0, 0))
ONES4 = np.ones(4, np.float32)

# (kernel, arguments): each call is wrong in exactly one way.
BAD_CALLS = {
    "pool size of zero": ("max_pool2d_forward", (X4, (0, 2), (1, 1), VALID)),
    "pads as wide as the pool": ("avg_pool2d_forward", (X4, (2, 2), (2, 2), ((2, 0), (0, 0)))),
    "avg dy of the wrong shape": ("avg_pool2d_backward", (X4[:, :2], X4.shape, (2, 2), (2, 2), VALID)),
    "3-D strides of two axes": ("max_pool3d_forward", (X5, (2, 2, 2), (1, 1), ((0, 0),) * 3)),
    "negative Lp exponent": ("lp_pool2d_forward", (X4, -1.0, (2, 2), (2, 2), VALID)),
    "weighted pool of zero sigma": ("weighted_pool2d_forward", (X4, 0.0, (2, 2), (2, 2), VALID)),
    "batch norm gamma per row": ("batch_norm_forward_train", (X4, np.ones(6, np.float32), ONES4, 1e-3)),
    "layer norm epsilon of zero": ("layer_norm_forward", (X4, ONES4, ONES4, 0.0)),
    "groups not dividing channels": ("group_norm_forward", (X4, 3, ONES4, ONES4, 1e-3)),
    "negative lrn radius": ("lrn_forward", (X4, -1, 1.0, 1e-4, 0.75)),
    "up-sampling by zero": ("upsample2d_nearest_forward", (X4, (0, 2))),
    "unknown activation": ("activation_forward", (X4, "gelu")),
    "bias gradient of a scalar": ("bias_gradient", (np.array(1.0, np.float32),)),
    "conv3d groups of zero": ("conv3d_forward", (X5, np.ones((1, 1, 1, 2, 2), np.float32), None, (1, 1, 1),
                                                 ((0, 0),) * 3, (1, 1, 1), 0)),
    "tiled strides of zero": ("tiled_conv2d_forward", (X4, np.ones((2, 2, 3, 3, 4, 2), np.float32), None,
                                                       (0, 1), VALID)),
    "local out_hw that does not fit": ("locally_connected2d_forward", (X4, np.ones((9, 36, 2), np.float32), None,
                                                                       (3, 3), (1, 1), (3, 3))),
}


@pytest.fixture
def numpy_array_module():
    gpu.use_array_module(np)
    yield


def failure(kernel_set, kernel, args):
    with pytest.raises((ValueError, TypeError)) as caught:
        getattr(kernel_set, kernel)(*args)
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_every_kernel_set_gives_the_same_error(case, numpy_array_module):
    kernel, args = BAD_CALLS[case]
    expected = failure(reference, kernel, args)
    assert failure(cpu, kernel, args) == expected
    assert failure(gpu, kernel, args) == expected


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_modules_define_no_checks(family):
    tree = ast.parse((KERNELS / "reference" / f"{family}.py").read_text())
    defined = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert [name for name in defined if name.startswith(("check_", "validate_"))] == []


def names_imported_from_reference(source):
    """Names of every ``from <...>reference<...> import a, b`` statement, parenthesised or not."""
    pattern = r"from\s+[\w.]*reference[\w.]*\s+import\s+(\([^)]*\)|[^\n]*)"
    return [name.split(" as ")[0].strip() for block in re.findall(pattern, source)
            for name in block.strip("()").split(",") if name.strip()]


@pytest.mark.parametrize("path", [KERNELS / "cpu" / f"{stem}.pyx" for stem in COMPILED]
                         + sorted((KERNELS / "cpu" / "conv2d").glob("*.py*"))
                         + sorted((KERNELS / "gpu").glob("*.py")), ids=lambda path: path.name)
def test_compiled_and_gpu_sets_import_no_checks_from_the_reference(path):
    imported = names_imported_from_reference(path.read_text())
    assert [name for name in imported if name.startswith(("check_", "validate_"))] == []


def test_the_compiled_2d_convolution_takes_its_checks_from_the_shared_module():
    from tinyconv.kernels.checks import conv as conv_checks
    from tinyconv.kernels.cpu.conv2d import entry

    assert entry.validate_conv2d_args is conv_checks.validate_conv2d_args
    assert entry.validate_upstream_gradient is conv_checks.validate_upstream_gradient


def test_compiled_poolings_share_one_geometry_declaration():
    for stem in ("pooling", "pooling_variants", "pooling3d"):
        source = (KERNELS / "cpu" / f"{stem}.pyx").read_text()
        assert "cdef struct Geometry" not in source, stem
        assert "cimport" in source and "pool_geometry" in source, stem
    shared = (KERNELS / "cpu" / "pool_geometry.pxd").read_text()
    assert "cdef struct Geometry:" in shared and "cdef struct Geometry3D:" in shared
