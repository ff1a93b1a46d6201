"""Which build of a compiled module this CPU runs.

Some kernels are compiled more than once from one source (setup.py ``ISA_VARIANTS``): a
portable build, ``<name>_avx2`` with AVX2 and FMA instructions, and ``<name>_avx512`` with
AVX-512 (F, VL, BW, DQ), the last two left out where the compiler cannot target them.  A build
may only be imported on a CPU that has its instructions; ``best_build`` picks the newest one
this CPU can run: avx512, else avx2, else portable.

The environment variable ``TINYCONV_ISA`` (``portable``, ``avx2`` or ``avx512``) caps that
choice, to test or compare the builds on one machine: ``TINYCONV_ISA=avx2`` runs the AVX2
build on an AVX-512 CPU, ``TINYCONV_ISA=portable`` the portable one anywhere.  It never picks
a build the CPU cannot run, and is read when a route first asks for its module (set it before
the first convolution).
"""
import importlib
import os

__all__ = ["ISAS", "best_build", "built_variants", "isa_cap", "isa_of"]

PACKAGE = "tinyconv.kernels.cpu.conv2d"

# The instruction sets of the builds, oldest first (the module suffix of each; portable has none).
ISAS = ("portable", "avx2", "avx512")


def isa_cap():
    """The newest build ``TINYCONV_ISA`` allows: one of ``ISAS`` (all of them when it is unset)."""
    value = os.environ.get("TINYCONV_ISA", "").strip().lower()
    if not value:
        return ISAS[-1]
    if value not in ISAS:
        raise ValueError(f"TINYCONV_ISA={value!r}: expected one of {', '.join(ISAS)}")
    return value


def isa_of(module):
    """"portable", "avx2" or "avx512": the instruction set ``module`` was built for."""
    suffix = module.__name__.rsplit("_", 1)[-1]
    return suffix if suffix in ISAS else "portable"


def built_variants(name):
    """Every build of ``name`` this machine can run, portable first (empty when none was built).
    ``TINYCONV_ISA`` does not apply here: the tests check each of these."""
    try:
        portable = importlib.import_module(f"{PACKAGE}.{name}")
    except ImportError:
        return []
    runnable = {"avx2": portable.cpu_has_avx2_fma(), "avx512": portable.cpu_has_avx512()}
    variants = [portable]
    for isa in ISAS[1:]:
        if runnable[isa]:
            try:
                variants.append(importlib.import_module(f"{PACKAGE}.{name}_{isa}"))
            except ImportError:     # not built: the compiler could not target it
                pass
    return variants


def best_build(name):
    """The newest build of ``name`` that this CPU can run and ``TINYCONV_ISA`` allows (AVX-512,
    then AVX2 + FMA, then portable); None when none was built."""
    allowed = ISAS[: ISAS.index(isa_cap()) + 1]
    variants = [module for module in built_variants(name) if isa_of(module) in allowed]
    return variants[-1] if variants else None
