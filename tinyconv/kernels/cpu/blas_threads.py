"""Hold SciPy's BLAS at one thread while tinyconv calls it from its OpenMP threads.

``conv2d/conv_blocks`` runs one GEMM per block on each of its own threads, and ``gemm`` one per
part of a matrix product (``matrix_product.py``).  A multi-threaded BLAS
called from several threads at once would start its own threads for every call and the two
teams would fight over the cores (measured: 2.5x slower than either alone), so for the
length of those calls SciPy's BLAS (a library apart from NumPy's, which keeps its threads)
is set to one thread, then put back.  threadpoolctl finds the library and knows how to set
it (OpenBLAS, MKL, BLIS); when it cannot, ``single_threaded_blas`` is None and the
convolution keeps to its chunked path, and ``matmul`` to NumPy's ``a @ b``.
"""
import contextlib
import functools


@functools.lru_cache(maxsize=None)
def _scipy_blas_controller():
    """threadpoolctl's controller of the BLAS behind scipy.linalg.cython_blas, or None."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, so it can be found)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    blas = [library for library in ThreadpoolController().lib_controllers if library.user_api == "blas"]
    # SciPy's wheels bundle their own BLAS in scipy.libs/ or scipy/.dylibs/ (NumPy's, beside
    # it, in numpy.libs/...); elsewhere (conda, Linux distributions) both share one library.
    bundled = [library for library in blas if _in_scipy_folder(library.filepath)]
    if len(bundled) == 1:
        return bundled[0]
    return blas[0] if len(blas) == 1 else None


def _in_scipy_folder(path):
    folders = [part.lower() for part in path.replace("\\", "/").split("/")[-3:-1]]
    return any(folder.startswith("scipy") for folder in folders)


@contextlib.contextmanager
def _one_thread(library):
    before = library.num_threads
    library.set_num_threads(1)
    try:
        yield
    finally:
        library.set_num_threads(before)


def scipy_blas_controller():
    """threadpoolctl's controller of SciPy's BLAS, or None when it cannot be found (cached)."""
    return _scipy_blas_controller()


def single_threaded_blas():
    """A context holding SciPy's BLAS at one thread, or None when that cannot be done."""
    library = _scipy_blas_controller()
    return None if library is None else _one_thread(library)
