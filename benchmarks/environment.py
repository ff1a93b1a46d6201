"""What the numbers depend on: the CPU, the thread counts and the BLAS each framework uses.

Read-only: the OpenBLAS environment variables are reported, never set or unset here.
"""
import os
import platform

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def numpy_blas():
    """NumPy's BLAS library and the kernel it picked at run time (via threadpoolctl)."""
    return _blas_in("numpy", "NumPy")


def scipy_blas():
    """SciPy's own BLAS (tinyconv's matrix products run it on tinyconv's threads) and its kernel."""
    return _blas_in("scipy", "SciPy")


def _blas_in(folder, name):
    """The BLAS whose library sits in a folder of the package ``folder`` (numpy.libs, scipy.libs, ...).

    The folder, not the file name, tells them apart: NumPy's wheels name theirs libscipy_openblas64_."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"note": "threadpoolctl not installed; see numpy.show_config()"}
    for pool in threadpool_info():
        folders = pool.get("filepath", "").replace("\\", "/").split("/")[:-1]
        if pool.get("user_api") == "blas" and any(part.lower().startswith(folder) for part in folders[-2:]):
            return {key: pool.get(key) for key in
                    ("internal_api", "version", "architecture", "threading_layer", "num_threads")}
    return {"note": f"no BLAS found for {name} by threadpoolctl"}


def torch_backend():
    import torch

    config = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in config.replace(",", " ").split()
                 if part.startswith("BLAS_INFO=")), "unknown")
    return {
        "version": torch.__version__,
        "blas": blas,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn (oneDNN) for conv": torch.backends.mkldnn.is_available(),
        "num_threads": torch.get_num_threads(),
    }


def load_average():
    """1-minute load average: above the core count, other work was competing for the CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def describe_environment():
    import numpy
    import tinyconv

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": load_average(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numpy_blas": numpy_blas(),
        "torch": torch_backend(),
        "tinyconv": {"version": tinyconv.__version__, "openmp": tinyconv.openmp_enabled(),
                     "num_threads": tinyconv.get_num_threads()},
        "openblas_env": {name: os.environ.get(name) for name in OPENBLAS_VARIABLES},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
    }
