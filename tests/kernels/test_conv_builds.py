"""The builds of the compiled convolutions (setup.py ``ISA_VARIANTS``, ``conv2d/builds.py``).

1. ``TINYCONV_ISA`` caps the build the routes pick (portable, avx2, avx512), set in a fresh
   process as a user would; a value that names no build is an error;
2. the kernels' plain-C loops (simd_vec.h with TC_HAVE_VECTORS=0: what a compiler without GCC's
   vector extensions builds) match the reference, built here into a temporary folder.

Each vector build this CPU runs (portable: 4 lanes, as NEON on ARM; AVX2; AVX-512) is checked
against the reference on random shapes in test_conv_implicit.py and test_conv_direct.py.
"""
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tinyconv
from tinyconv.dispatch import KernelCache
from tinyconv.kernels.cpu import conv2d as fast
from tinyconv.kernels.cpu.conv2d import builds, direct_path, implicit_path
from tinyconv.kernels.reference import conv as ref

from .test_conv_kernels import assert_matches, random_problem

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = ("conv_direct", "conv_implicit")

pytestmark = pytest.mark.skipif(not all(builds.built_variants(name) for name in MODULES),
                                reason="the compiled convolutions are not built")


# --- 1. TINYCONV_ISA -----------------------------------------------------------------------

PICKED = ("from tinyconv.kernels.cpu.conv2d import builds, direct_path, implicit_path\n"
          "print(builds.isa_of(direct_path.direct_kernels()), builds.isa_of(implicit_path.implicit_kernels()))\n")


def picked_in_a_fresh_process(isa):
    package_root = str(pathlib.Path(tinyconv.__file__).parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", PICKED], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, TINYCONV_ISA=isa, PYTHONPATH=path))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


@pytest.mark.parametrize("isa", builds.ISAS)
def test_tinyconv_isa_caps_the_build(isa):
    allowed = builds.ISAS[: builds.ISAS.index(isa) + 1]
    expected = [[builds.isa_of(m) for m in builds.built_variants(name) if builds.isa_of(m) in allowed][-1]
                for name in MODULES]
    assert picked_in_a_fresh_process(isa) == expected


def test_without_tinyconv_isa_the_newest_build_runs(monkeypatch):
    monkeypatch.delenv("TINYCONV_ISA", raising=False)
    assert builds.isa_cap() == "avx512"
    for name in MODULES:
        assert builds.best_build(name) is builds.built_variants(name)[-1]


def test_tinyconv_isa_is_case_blind_and_checked(monkeypatch):
    monkeypatch.setenv("TINYCONV_ISA", " AVX2 ")
    assert builds.isa_cap() == "avx2"
    monkeypatch.setenv("TINYCONV_ISA", "sse4")
    with pytest.raises(ValueError, match="portable, avx2, avx512"):
        builds.best_build("conv_implicit")


# --- 2. the plain-C loops ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scalar_builds(tmp_path_factory):
    """{name: conv_direct / conv_implicit compiled with -DTC_HAVE_VECTORS=0}, loaded from a temporary folder."""
    if shutil.which("gcc") is None or not (ROOT / "setup.py").exists():
        pytest.skip("needs gcc and the source tree's setup.py")
    out = tmp_path_factory.mktemp("scalar")
    env = dict(os.environ, TINYCONV_BUILD_ONLY=",".join(MODULES),
               CFLAGS=f"{os.environ.get('CFLAGS', '')} -DTC_HAVE_VECTORS=0")
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(out / "lib"),
                            "--build-temp", str(out / "tmp")], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    modules = {}
    for name in MODULES:
        path = next((out / "lib").rglob(f"{name}.*.so"))
        spec = importlib.util.spec_from_file_location(f"{builds.PACKAGE}.{name}", path)
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    return modules


class Counting:
    """A module whose function calls are counted (to see that the route under test ran)."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def __getattr__(self, name):
        found = getattr(self.module, name)
        if not callable(found):
            return found
        return lambda *args: self.calls.append(name) or found(*args)


@pytest.fixture
def one_thread():
    before = tinyconv.get_num_threads()
    tinyconv.set_num_threads(1)     # (dL/dW takes the implicit route with a batch slice per thread)
    yield
    tinyconv.set_num_threads(before)


def check_against_reference(x, kernel, bias, args, cache=None):
    """Forward and dL/dW (dL/dx and dL/db too) of the compiled kernels against the reference."""
    y = fast.conv2d_forward(x, kernel, bias, *args, cache=cache)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    got = (y,) + fast.conv2d_backward(dy, x, kernel, *args, cache=cache)
    want = (ref.conv2d_forward(x, kernel, bias, *args),) + ref.conv2d_backward(dy, x, kernel, *args)
    sizes = ((ref.conv2d_forward(abs(x), abs(kernel), abs(bias), *args),)
             + ref.conv2d_backward(abs(dy), abs(x), abs(kernel), *args))
    for actual, expected, size in zip(got, want, sizes):
        assert_matches(actual, expected, size, np.float32)


@pytest.mark.parametrize("shape", [
    # n, h, w, channels, kh, kw, filters, strides, pads, groups
    (2, 9, 17, 6, 3, 3, 20, (1, 1), ((1, 1), (1, 1)), 1),      # filters: a block and a part of one
    (2, 8, 15, 12, 3, 2, 18, (2, 1), ((0, 1), (1, 0)), 2),     # two groups of 9 filters, stride 2
    (3, 7, 30, 5, 1, 3, 9, (1, 1), ((0, 0), (0, 0)), 1),       # widths not a whole number of tiles
])
def test_scalar_implicit_matches_reference(scalar_builds, monkeypatch, one_thread, shape):
    n, h, w, channels, kh, kw, filters, strides, pads, groups = shape
    x, kernel, bias = random_problem(np.random.default_rng(0), n, h, w, channels, kh, kw, filters, groups,
                                     np.float32)
    kernels = Counting(scalar_builds["conv_implicit"])
    monkeypatch.setattr(implicit_path, "implicit_kernels", lambda: kernels)
    check_against_reference(x, kernel, bias, (strides, pads, (1, 1), groups))
    assert {"forward", "weight_gradient"} <= set(kernels.calls)


def test_scalar_direct_matches_reference(scalar_builds, monkeypatch, one_thread):
    x, kernel, bias = random_problem(np.random.default_rng(2), 3, 11, 37, 2, 5, 3, 5, 1, np.float32)
    kernels = Counting(scalar_builds["conv_direct"])
    monkeypatch.setattr(direct_path, "direct_kernels", lambda: kernels)
    check_against_reference(x, kernel, bias, ((1, 1), ((2, 2), (1, 1)), (1, 1), 1), cache=KernelCache())
    assert {"forward", "weight_gradient"} <= set(kernels.calls)


@pytest.mark.parametrize("shape", [
    # n, h, w, channels, kh, kw, filters, strides, pads
    (2, 14, 14, 6, 5, 5, 16, (1, 1), ((0, 0), (0, 0))),        # LeNet-5's second layer: four rows at a time
    (2, 9, 8, 3, 3, 3, 7, (2, 1), ((1, 1), (1, 1))),           # strided down the rows: pixel by pixel
])
def test_scalar_scatter_matches_reference(scalar_builds, monkeypatch, one_thread, shape):
    n, h, w, channels, kh, kw, filters, strides, pads = shape
    x, kernel, bias = random_problem(np.random.default_rng(3), n, h, w, channels, kh, kw, filters, 1, np.float32)
    kernels = Counting(scalar_builds["conv_implicit"])
    monkeypatch.setattr(implicit_path, "implicit_kernels", lambda: kernels)
    check_against_reference(x, kernel, bias, (strides, pads, (1, 1), 1))
    assert "input_gradient_scatter" in kernels.calls
