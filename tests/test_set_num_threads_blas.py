"""``tinyconv.set_num_threads`` holds NumPy's BLAS to the same count as the kernels (as torch's does)."""
import numpy as np  # noqa: F401  (loads NumPy's BLAS, so threadpoolctl can see it)
import pytest

import tinyconv

threadpoolctl = pytest.importorskip("threadpoolctl", reason="the BLAS thread count is read with threadpoolctl")


def blas_thread_counts():
    """The counts of the BLAS libraries set_num_threads sets (not SciPy's own copy, pinned at one)."""
    from tinyconv.kernels.cpu.blas_threads import is_pinned

    return [library.num_threads for library in
            threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
            if not is_pinned(library.filepath)]


def test_set_num_threads_reaches_numpys_blas():
    assert blas_thread_counts(), "NumPy's BLAS is not visible to threadpoolctl"
    kernels_before, blas_before = tinyconv.get_num_threads(), blas_thread_counts()
    try:
        tinyconv.set_num_threads(1)
        assert set(blas_thread_counts()) == {1}
        if tinyconv.openmp_enabled():
            assert tinyconv.get_num_threads() == 1
        tinyconv.set_num_threads(2)
        assert set(blas_thread_counts()) == {2}
    finally:
        tinyconv.set_num_threads(kernels_before)
        for library, count in zip(threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers,
                                  blas_before):
            library.set_num_threads(count)


def test_a_bad_count_is_refused_before_anything_changes():
    before = blas_thread_counts()
    with pytest.raises(ValueError, match="expected a positive integer, got 0"):
        tinyconv.set_num_threads(0)
    assert blas_thread_counts() == before
