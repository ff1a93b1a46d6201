"""The kernels' default thread count: the cores this process may use (CPU affinity, capped by a
container's CPU quota, cgroup v1 or v2), unless OMP_NUM_THREADS says otherwise."""
import os
import subprocess
import sys
import textwrap

import pytest

import tinyconv
from tinyconv import thread_budget


@pytest.fixture
def eight_cores(monkeypatch):
    """A process allowed on 8 cores of a 16-core machine."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_without_a_quota_the_affinity_mask_counts_not_every_core(eight_cores, tmp_path):
    assert thread_budget.cgroup_cpu_limit(tmp_path) is None
    assert thread_budget.default_thread_count(tmp_path) == 8


def test_without_affinity_support_every_core_counts(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert thread_budget.default_thread_count(tmp_path) == 6


@pytest.mark.parametrize("cpu_max, expected", [
    ("200000 100000\n", 2),    # docker --cpus=2
    ("150000 100000\n", 2),    # 1.5 cores of time: rounded up
    ("50000 100000\n", 1),     # half a core: still one thread
    ("1600000 100000\n", 8),   # a quota above the affinity mask: the mask wins
    ("max 100000\n", 8),       # no limit
    ("nonsense\n", 8),         # unreadable: ignored
])
def test_cgroup_v2_cpu_max_caps_the_count(eight_cores, tmp_path, cpu_max, expected):
    write(tmp_path, "cpu.max", cpu_max)
    assert thread_budget.default_thread_count(tmp_path) == expected


@pytest.mark.parametrize("folder", ["cpu", "cpu,cpuacct"])
@pytest.mark.parametrize("quota, expected", [("300000", 3), ("-1", 8)])
def test_cgroup_v1_quota_and_period_cap_the_count(eight_cores, tmp_path, folder, quota, expected):
    write(tmp_path / folder, "cpu.cfs_quota_us", quota + "\n")
    write(tmp_path / folder, "cpu.cfs_period_us", "100000\n")
    assert thread_budget.default_thread_count(tmp_path) == expected


def test_omp_num_threads_wins_over_the_default(eight_cores, monkeypatch, tmp_path):
    monkeypatch.setattr(thread_budget, "CGROUP_ROOT", str(tmp_path))
    write(tmp_path, "cpu.max", "100000 100000\n")
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert thread_budget.starting_thread_count(openmp_default=5) == 5
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert thread_budget.starting_thread_count(openmp_default=16) == 1


KERNELS_UNDER_A_ONE_CORE_QUOTA = textwrap.dedent("""
    import pathlib, sys
    from tinyconv import thread_budget
    root = pathlib.Path(sys.argv[1])
    (root / "cpu.max").write_text("100000 100000\\n")  # docker --cpus=1
    thread_budget.CGROUP_ROOT = str(root)
    from tinyconv.kernels.cpu import threads  # the kernels read their starting count as they load
    print("threads", threads.get_num_threads())
""")


@pytest.mark.skipif(not tinyconv.openmp_enabled(), reason="kernels built without OpenMP run on one thread")
@pytest.mark.parametrize("omp_num_threads, expected", [(None, 1), ("2", 2)])
def test_the_kernels_start_with_the_default_unless_omp_num_threads_is_set(tmp_path, omp_num_threads, expected):
    if omp_num_threads is None and thread_budget._usable_cores() < 2:
        pytest.skip("one usable core: a one-core quota would change nothing")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = omp_num_threads
    done = subprocess.run([sys.executable, "-c", KERNELS_UNDER_A_ONE_CORE_QUOTA, str(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["threads", str(expected)]
