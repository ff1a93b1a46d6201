"""Keep SciPy's BLAS at one thread while tinyconv calls it from its OpenMP threads.

``conv2d/conv_blocks`` runs one GEMM per block on each of its own threads, and ``gemm`` one per
part of a matrix product (``matrix_product.py``).  A multi-threaded BLAS
called from several threads at once would start its own threads for every call and the two
teams would fight over the cores (measured: 2.5x slower than either alone), so SciPy's BLAS
runs on one thread: its own copy is pinned there, a BLAS shared with NumPy is held there for
the length of a call (``single_threaded_blas``).  threadpoolctl finds the library and knows how to set
it (OpenBLAS, MKL, BLIS); when it cannot, ``single_threaded_blas`` is None and the
convolution keeps to its chunked path, and ``matmul`` to NumPy's ``a @ b``.
"""
import contextlib
import functools


@functools.lru_cache(maxsize=None)
def _scipy_blas():
    """(threadpoolctl's controller of the BLAS behind scipy.linalg.cython_blas, whether it is a
    library apart from NumPy's), or (None, False) when it cannot be found."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS, so it can be found)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None, False
    blas = [library for library in ThreadpoolController().lib_controllers if library.user_api == "blas"]
    # SciPy's wheels bundle their own BLAS in scipy.libs/ or scipy/.dylibs/ (NumPy's, beside
    # it, in numpy.libs/...); elsewhere (conda, Linux distributions) both share one library.
    bundled = [library for library in blas if _in_scipy_folder(library.filepath)]
    if len(bundled) == 1:
        return bundled[0], len(blas) > 1
    return (blas[0] if len(blas) == 1 else None), False


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
    return _scipy_blas()[0]


def is_pinned(library_path):
    """True for SciPy's own copy of BLAS, which tinyconv keeps at one thread (``single_threaded_blas``)."""
    library, separate = _scipy_blas()
    return separate and library is not None and library.filepath == library_path


def single_threaded_blas():
    """A context in which SciPy's BLAS runs on one thread, or None when that cannot be done.

    SciPy's own copy of BLAS (its wheels bundle one apart from NumPy's) is *pinned*: set to one
    thread here and left there, so the context costs nothing per call (holding and restoring it
    took 3 microseconds a call, more than a small Dense product).  ``scipy.linalg`` then runs on
    one thread in a process that uses tinyconv's kernels; NumPy's BLAS keeps its own count
    (``tinyconv.set_num_threads``).  A BLAS that NumPy shares is held at one thread for the
    length of the call only, then put back.
    """
    library, separate = _scipy_blas()
    if library is None:
        return None
    if not separate:
        return _one_thread(library)
    _pin_once(library)
    return contextlib.nullcontext()


_pinned = False


def _pin_once(library):
    global _pinned
    if not _pinned:
        library.set_num_threads(1)
        _pinned = True
