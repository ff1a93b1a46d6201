"""Which machine a result came from: the CPU, its theoretical float32 peak, and the ISA each
compiled tinyconv module picked.

A benchmark figure means nothing without the CPU it was measured on, so every table names the
CPU model and the results are kept in a folder per CPU (``results_dir``).  Read-only: nothing
here sets an environment variable, and only ``compiled_isas`` imports tinyconv (call it in the
process being measured, not in a parent that starts other frameworks: ``import tinyconv`` sets
``OMP_WAIT_POLICY`` for the processes it starts).

Example:
>>> slug("Intel(R) Xeon(R) Gold 6354 CPU @ 3.00GHz")
'intel-xeon-gold-6354-cpu-3-00ghz'
"""
import importlib
import importlib.machinery
import os
import platform
import re
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CONV2D_PACKAGE = "tinyconv.kernels.cpu.conv2d"
ISA_BUILD_NAME = re.compile(r"^(\w+?)_(avx\w*|sse\w*|neon\w*|sve\w*)$")


def cpuinfo_fields(path="/proc/cpuinfo"):
    """The first processor's ``key: value`` lines of /proc/cpuinfo ({} where there is none)."""
    fields = {}
    try:
        with open(path) as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break  # the end of the first processor's block
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model(fields=None):
    """The CPU's marketing name: /proc/cpuinfo's "model name", else ``platform.processor()``."""
    fields = cpuinfo_fields() if fields is None else fields
    return fields.get("model name") or platform.processor() or platform.machine() or "unknown"


def slug(text):
    """``text`` lower-cased, with every run of other characters than a-z0-9 made one dash
    (the "(R)" marks dropped first)."""
    text = re.sub(r"\((r|tm)\)", " ", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unknown"


def cpu_slug(fields=None):
    """A folder name for this CPU: the model name, the family/model numbers and the CPU count.

    Virtual machines often show a generic name ("Intel(R) Xeon(R) Processor") for several
    generations; the family and model numbers tell those apart, and the CPU count separates a
    2-core VM from a 16-core one of the same chip (their "all cores" figures differ).
    """
    fields = cpuinfo_fields() if fields is None else fields
    parts = [slug(cpu_model(fields))]
    if fields.get("cpu family") and fields.get("model"):
        parts.append(f"f{fields['cpu family']}m{fields['model']}")
    parts.append(f"{os.cpu_count() or 1}cpu")
    return "-".join(parts)


def results_dir(fields=None):
    """``benchmarks/results/<cpu slug>/``: one folder per CPU, so no result is read as another's."""
    return RESULTS_DIR / cpu_slug(fields)


def physical_cores(path="/proc/cpuinfo"):
    """Distinct (physical id, core id) pairs of /proc/cpuinfo; ``os.cpu_count()`` where absent."""
    cores, current = set(), {}
    try:
        with open(path) as cpuinfo:
            for line in list(cpuinfo) + [""]:
                if not line.strip():
                    if "core id" in current:
                        cores.add((current.get("physical id"), current["core id"]))
                    current = {}
                    continue
                key, _, value = line.partition(":")
                current[key.strip()] = value.strip()
    except OSError:
        pass
    return (len(cores), "/proc/cpuinfo (physical id, core id) pairs") if cores else (
        os.cpu_count() or 1, "os.cpu_count() (logical CPUs; physical cores not readable)")


def vector_floats(flags):
    """(float32 lanes of the widest FMA vector, the flag that says so), or (None, why)."""
    if "avx512f" in flags:
        return 16, "avx512f flag: 512-bit vectors"
    if "fma" in flags and "avx2" in flags:
        return 8, "avx2 + fma flags: 256-bit vectors"
    if platform.machine().lower() in ("aarch64", "arm64"):
        return 4, "aarch64: 128-bit NEON vectors (SVE not counted)"
    return None, "unknown: no FMA vector flag in /proc/cpuinfo"


def clock_ghz(fields):
    """(GHz, where it came from): cpufreq's maximum, the "@ x.xxGHz" of the name, or "cpu MHz"."""
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text())
        return khz / 1e6, "cpufreq cpuinfo_max_freq (maximum turbo clock)"
    except (OSError, ValueError):
        pass
    named = re.search(r"@\s*([0-9.]+)\s*GHz", fields.get("model name", ""))
    if named:
        return float(named.group(1)), "the model name's base clock (turbo may be higher)"
    if fields.get("cpu MHz"):
        return float(fields["cpu MHz"]) / 1e3, "/proc/cpuinfo 'cpu MHz' (the clock the kernel reports)"
    return None, "unknown"


def theoretical_peak(threads, fma_units=None, fields=None):
    """float32 peak GFLOP/s on ``threads`` cores: cores x FMA units x lanes x 2 x GHz.

    Each factor comes with how it was obtained.  The number of FMA units per core cannot be
    read from /proc/cpuinfo: unless ``fma_units`` is given, 2 is assumed (x86 cores since
    Haswell and Zen 2 have two FMA pipes; some Xeon Silver/Bronze have one 512-bit unit).
    Returns a dict whose "gflops" is None when a factor is unknown.
    """
    fields = cpuinfo_fields() if fields is None else fields
    cores, cores_source = physical_cores()
    used = min(threads, cores)
    lanes, lanes_source = vector_floats(set(fields.get("flags", fields.get("Features", "")).split()))
    ghz, ghz_source = clock_ghz(fields)
    units, units_source = (fma_units, "given (--fma-units)") if fma_units else (
        2, "assumed: two FMA pipes per core (not readable from /proc/cpuinfo; --fma-units to override)")
    known = lanes is not None and ghz is not None
    return {
        "gflops": used * units * lanes * 2 * ghz if known else None,
        "cores": used, "cores_source": f"min(threads={threads}, {cores} cores from {cores_source})",
        "fma_units": units, "fma_units_source": units_source,
        "vector_floats": lanes, "vector_floats_source": lanes_source,
        "ghz": ghz, "ghz_source": ghz_source,
    }


def cpu_description(fields=None):
    """The CPU as the result files record it."""
    fields = cpuinfo_fields() if fields is None else fields
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    simd = sorted(flag for flag in flags if flag in ("avx2", "fma", "avx512f", "avx512_fp16", "avx512_bf16",
                                                     "amx_tile", "asimd", "sve"))
    cores, _ = physical_cores()
    return {"model": cpu_model(fields), "slug": cpu_slug(fields), "vendor": fields.get("vendor_id"),
            "family": fields.get("cpu family"), "model_number": fields.get("model"),
            "logical_cpus": os.cpu_count(), "physical_cores": cores, "simd_flags": simd,
            "machine": platform.machine()}


def compiled_isas():
    """{compiled module: build picked at run time} for each module built for several ISAs.

    setup.py compiles some kernels more than once (``ISA_VARIANTS``: ``conv_direct``,
    ``conv_direct_avx2``, ``conv_direct_avx512``, ...); ``tinyconv.kernels.cpu.conv2d.builds.best_build``
    imports the newest one this CPU can run (capped by ``TINYCONV_ISA`` when it is set).  The
    answer is that module's suffix ("avx512", "avx2") or "portable"; {"error": ...} when the
    compiled kernels are not importable.
    """
    try:
        builds = importlib.import_module(f"{CONV2D_PACKAGE}.builds")
        folder = Path(importlib.import_module(CONV2D_PACKAGE).__file__).parent
    except ImportError as error:
        return {"error": f"compiled kernels not importable: {error}"}
    stems = {path.name[: -len(suffix)] for path in folder.iterdir()
             for suffix in importlib.machinery.EXTENSION_SUFFIXES if path.name.endswith(suffix)}
    stems |= {path.stem for path in folder.glob("*.pyx")}
    # An ISA build is named <module>_<isa>; a source that was not compiled still counts (its
    # portable twin is then what runs, and best_build says so).
    bases = sorted({match.group(1) for stem in stems for match in [ISA_BUILD_NAME.match(stem)]
                    if match and match.group(1) in stems})
    picked = {}
    for base in bases:
        module = builds.best_build(base)
        name = module.__name__.rsplit(".", 1)[-1] if module is not None else None
        picked[base] = "not built" if name is None else ("portable" if name == base else name[len(base) + 1:])
    return picked
