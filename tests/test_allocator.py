"""import tinyconv keeps freed memory for reuse (glibc), so a training step's arrays do not page-fault each step."""
import subprocess
import sys

import pytest

from tinyconv import allocator

# As a training step does: allocate a few arrays of some MiB (above glibc's starting mmap
# threshold), free them all, again and again, counting the minor page faults of the last rounds:
# with the memory kept the arrays come from the heap's old pages.
FAULTS = """
import resource, sys
import numpy as np
import tinyconv
def step():
    arrays = [np.ones(2**20, np.float32) for _ in range(4)]
    del arrays
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

needs_glibc = pytest.mark.skipif(allocator._glibc() is None, reason="glibc's mallopt (Linux) only")


def page_faults(**env):
    import os
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environ.update(env)
    result = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, env=environ, check=True)
    return int(result.stdout.split()[-1])


@needs_glibc
def test_freed_arrays_are_reused_without_page_faults():
    kept, given_back = page_faults(), page_faults(TINYCONV_KEEP_FREED_MEMORY="0")
    assert given_back > 20 * 1000         # 4 x 1024 pages a step, unless the memory is kept
    assert kept < given_back / 20


@pytest.mark.parametrize("environ", [{"TINYCONV_KEEP_FREED_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "1000"},
                                     {"MALLOC_MMAP_THRESHOLD_": "1000"}])
def test_the_users_choice_is_left_alone(environ):
    assert allocator.keep_freed_memory(environ) is False


@needs_glibc
def test_the_thresholds_are_set_on_glibc():
    assert allocator.keep_freed_memory({}) is True
