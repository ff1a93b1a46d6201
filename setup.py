"""Build the compiled kernels (Cython + OpenMP).

Every ``.pyx`` under ``tinyconv/kernels/cpu`` (sub-folders included, e.g. ``conv2d/``) becomes
one C extension, named by its path.  OpenMP is used when the
compiler accepts ``-fopenmp``; otherwise the kernels build single-threaded and we say so
(macOS's clang is the usual case).  Set ``TINYCONV_NATIVE=1`` to add ``-march=native``
(the default build stays portable), ``TINYCONV_BUILD_ONLY=chunked_path,pooling`` to compile only
some modules while developing, ``TINYCONV_SANITIZE=1`` to build with AddressSanitizer and
UndefinedBehaviorSanitizer (``make sanitize`` builds such a copy under ``build/sanitize/``).
``conv_blocks`` calls SciPy's BLAS and is left out (with a note) when SciPy is missing at
build time.  Modules named in ``ISA_VARIANTS`` are extra builds
of another module's code for a newer instruction set; they are left out where the compiler
cannot target it (the package picks a variant at run time, by what the CPU has).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL_DIR = os.path.join("tinyconv", "kernels", "cpu")


def compiler_accepts_openmp(compiler_cmd):
    """Try to compile and link a tiny OpenMP program; True if the compiler can."""
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "omp_probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        cmd = list(compiler_cmd) + ["-fopenmp", src, "-o", os.path.join(tmp, "omp_probe")]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compiler_accepts_flags(compiler_cmd, flags):
    """True if the compiler builds a trivial object file with these flags (e.g. -mavx2 off x86)."""
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "flags_probe.c")
        with open(src, "w") as f:
            f.write("int tinyconv_probe(void) { return 0; }\n")
        cmd = list(compiler_cmd) + list(flags) + ["-c", src, "-o", os.path.join(tmp, "flags_probe.o")]
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# Module -> the extra flags it is built with: the same source as another module, compiled for
# a newer instruction set (conv_direct_avx2.pyx includes conv_direct's code).  The AVX-512
# builds use the subsets every AVX-512 server core since Skylake has (F, VL, BW, DQ); the
# module checks the CPU for all of them (simd_vec.h's tc_cpu_has_avx512) before it is picked.
# (-mprefer-vector-width=512 measured no faster: the kernels' 512-bit vectors are written out.)
AVX2_FLAGS = ["-mavx2", "-mfma"]
AVX512_FLAGS = ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mavx2", "-mfma"]
ISA_VARIANTS = {"conv_direct_avx2": AVX2_FLAGS, "conv_implicit_avx2": AVX2_FLAGS,
                "conv_direct_avx512": AVX512_FLAGS, "conv_implicit_avx512": AVX512_FLAGS}

# TINYCONV_SANITIZE=1: out-of-bounds reads and writes, use after free and undefined behaviour
# are reported where they happen.  -O1 keeps the reports readable (and the build quicker); the
# modules then need libasan and libubsan preloaded into Python (see the Makefile's sanitize).
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]


def sanitizing():
    return os.environ.get("TINYCONV_SANITIZE") == "1"


class BuildWithOptionalOpenMP(build_ext):
    """Add OpenMP flags only when the active compiler supports them."""

    def build_extensions(self):
        compiler_cmd = getattr(self.compiler, "compiler_so", None) or ["cc"]
        # compiler_so holds the compiler and its flags; keep the executable only.
        use_openmp = os.environ.get("TINYCONV_NO_OPENMP") != "1" and compiler_accepts_openmp(compiler_cmd[:1])
        if not use_openmp:
            warnings.warn(
                "tinyconv: the C compiler does not support OpenMP (-fopenmp); building the kernels "
                "single-threaded. tinyconv.openmp_enabled() will return False.",
                stacklevel=1,
            )
            print("WARNING: building tinyconv without OpenMP (single-threaded kernels)", file=sys.stderr)
        # -fno-trapping-math: we never read floating-point exception flags, and without it GCC
        # will not turn a float comparison inside a loop into a SIMD select (so loops with
        # max, clamps or ReLU masks stay scalar).  It changes no result.
        extra_compile = ["-O3", "-fno-trapping-math"]
        if os.environ.get("TINYCONV_NATIVE") == "1":
            extra_compile.append("-march=native")
        extra_link = []
        # Release builds carry no debug info (Python's own CFLAGS add -g): -g0 when compiling,
        # -s (strip) when linking.  `build_ext --debug` and the sanitizer build keep it.
        if not self.debug:
            extra_compile.append("-g0")
            extra_link.append("-s")
        if sanitizing():
            extra_compile = ["-O1", "-g", "-fno-trapping-math"] + SANITIZE_FLAGS
            extra_link = list(SANITIZE_FLAGS)
        for ext in list(self.extensions):
            variant_flags = ISA_VARIANTS.get(ext.name.rsplit(".", 1)[-1], [])
            if variant_flags and not compiler_accepts_flags(compiler_cmd[:1], variant_flags):
                print(f"NOTE: the compiler does not accept {' '.join(variant_flags)}; {ext.name} is left out "
                      "(the portable build of its code is used)", file=sys.stderr)
                self.extensions.remove(ext)
                continue
            ext.extra_compile_args = extra_compile + variant_flags + (["-fopenmp"] if use_openmp else [])
            ext.extra_link_args = extra_link + (["-fopenmp"] if use_openmp else [])
        super().build_extensions()


def scipy_blas_available():
    """conv_blocks calls SciPy's BLAS from C (scipy.linalg.cython_blas), so it needs SciPy to build."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        return False
    return True


# Modules that need more than NumPy and Cython to build; without it they are left out and
# the kernels that would use them take another route (conv2d/chunked_path.pyx for conv_blocks,
# NumPy's ``a @ b`` for gemm).
OPTIONAL_KERNELS = {"conv_blocks": (scipy_blas_available, "SciPy"), "gemm": (scipy_blas_available, "SciPy")}


def kernel_sources():
    """(module name, .pyx path) of every kernel: tinyconv/kernels/cpu/conv2d/conv_blocks.pyx
    is tinyconv.kernels.cpu.conv2d.conv_blocks."""
    for pyx in sorted(glob.glob(os.path.join(KERNEL_DIR, "**", "*.pyx"), recursive=True)):
        yield os.path.splitext(pyx)[0].replace(os.sep, "."), pyx


def kernel_extensions():
    only = {name for name in os.environ.get("TINYCONV_BUILD_ONLY", "").split(",") if name}
    extensions = []
    for module, pyx in kernel_sources():
        stem = module.rsplit(".", 1)[-1]
        if only and stem not in only:
            continue
        if stem in OPTIONAL_KERNELS and not OPTIONAL_KERNELS[stem][0]():
            print(f"NOTE: {OPTIONAL_KERNELS[stem][1]} not found at build time; {module} "
                  "is left out (the kernels use a slower path)", file=sys.stderr)
            continue
        extensions.append(
            Extension(
                module,
                [pyx],
                # its own folder (.pxi, .h) and cpu/ (omp_compat.h, fast_math.h, parallel.pxd)
                include_dirs=[np.get_include(), os.path.dirname(pyx), KERNEL_DIR],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            )
        )
    return extensions


setup(
    ext_modules=cythonize(
        kernel_extensions(),
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False,
                             "cdivision": True, "initializedcheck": False},
    ),
    cmdclass={"build_ext": BuildWithOptionalOpenMP},
)
