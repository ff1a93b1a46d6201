"""Which build of a compiled module this CPU runs.

Some kernels are compiled twice from one source (setup.py ``ISA_VARIANTS``): a portable
build, and ``<name>_avx2`` with AVX2 and FMA instructions, left out where the compiler
cannot target them.  The faster one may only be imported on a CPU that has both.
"""
import importlib

__all__ = ["best_build", "built_variants"]

PACKAGE = "tinyconv.kernels.cpu.conv2d"


def built_variants(name):
    """The builds of ``name`` this machine can run, portable first (empty when none was built)."""
    try:
        portable = importlib.import_module(f"{PACKAGE}.{name}")
    except ImportError:
        return []
    variants = [portable]
    if portable.cpu_has_avx2_fma():
        try:
            variants.append(importlib.import_module(f"{PACKAGE}.{name}_avx2"))
        except ImportError:
            pass
    return variants


def best_build(name):
    """The AVX2 + FMA build of ``name`` when this CPU can run it and it was built, else the
    portable build; None when neither was built."""
    variants = built_variants(name)
    return variants[-1] if variants else None
