"""The GPU benchmark (benchmarks/gpu_bench.py) and the GPU check (tools/gpu_check.py) run their code
paths here, without a GPU: on the CuPy stand-in, with PyTorch on the CPU where the comparison needs it.

What is checked is the scripts, not a GPU's figures: a TF32 setting runs in its own process with
``CUPY_TF32`` set before CuPy is imported, the float64 comparison with PyTorch maps every weight
right (and notices when it does not), the report has every stage.
"""
import json
import os
import subprocess
import sys

import pytest

import tinyconv as keras
from tinyconv import devices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import gpu_bench  # noqa: E402 - benchmarks/ is not a package on the path

torch = pytest.importorskip("torch", reason="the comparisons need PyTorch (CPU build is enough here)")


def run_script(*arguments, env=None, timeout=120):
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_help_runs_without_a_gpu_and_names_every_measure():
    result = run_script("benchmarks/gpu_bench.py", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--tf32", "--steps", "--repeat", "--dry-run", "--no-accuracy", "--keep-kernel-cache"):
        assert option in result.stdout
    assert "CUPY_TF32" in result.stdout


def test_unknown_cases_and_bad_counts_are_refused():
    with pytest.raises(SystemExit):
        gpu_bench.parse_args(["--cases", "lenet,vgg"])
    with pytest.raises(SystemExit):
        gpu_bench.parse_args(["--steps", "0"])
    args = gpu_bench.parse_args(["--dry-run"])
    assert (args.repeat, args.steps, args.batch) == (2, 2, 4)  # a dry run exercises, it does not measure
    assert gpu_bench.parse_args([]).batch is None and gpu_bench.parse_args([]).steps == 50


def test_a_worker_refuses_a_tf32_setting_cupy_did_not_start_with():
    result = run_script("benchmarks/gpu_bench.py", "--worker", "--tf32", "on", "--dry-run", env={"CUPY_TF32": "0"})
    assert result.returncode != 0
    assert "CUPY_TF32 must be 1 before CuPy is imported" in result.stderr


def test_each_tf32_setting_runs_in_a_fresh_process_with_every_measure(tmp_path):
    result = run_script("benchmarks/gpu_bench.py", "--dry-run", "--cases", "lenet", "--batch", "2", "--no-accuracy",
                        "--no-torch", "--json", str(tmp_path / "bench.json"), "--markdown", str(tmp_path / "bench.md"))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [(row["case"], row["tf32"], row["torch"]) for row in rows] == [("lenet", "off", None), ("lenet", "on", None)]
    for row in rows:
        times = row["tinyconv"]
        assert min(times["first_call_ms"], times["latency_ms"], times["throughput_ms"]) > 0
        assert times["host_ms"] is None  # cupyx.profiler exists only on real CuPy
    markdown = (tmp_path / "bench.md").read_text()
    assert "| lenet | 2 | on | tinyconv |" in markdown and "Dry run" in markdown


@pytest.mark.parametrize("name", ["conv3x3", "lenet"])
def test_both_libraries_time_every_measure(device, name):
    args = gpu_bench.parse_args(["--dry-run", "--batch", "1", "--repeat", "1", "--steps", "1", "--warmup", "0"])
    ours = gpu_bench.tinyconv_timing(name, keras, device, lambda: None, None, args)
    theirs = gpu_bench.torch_timing(name, torch, torch.device("cpu"), lambda: None, None, args)
    for times in (ours, theirs):
        assert min(times["first_call_ms"], times["latency_ms"], times["throughput_ms"]) > 0
        assert times["host_ms"] is times["device_ms"] is None


@pytest.mark.parametrize("name", ["lenet", "resnet20"])
def test_the_float64_step_equals_pytorch_once_the_weights_are_mapped(device, name):
    args = gpu_bench.parse_args(["--dry-run", "--batch", "2"])
    errors = gpu_bench.accuracy_check(name, keras, devices, torch, torch.device("cpu"), args)
    assert errors["ok"], errors
    assert errors["loss"] < 1e-12 and errors["gradients"] < gpu_bench.ACCURACY_TOLERANCE
    assert keras.backend.floatx() == "float32"  # restored


def test_the_float64_check_notices_a_wrong_weight_layout(device, monkeypatch):
    layout = gpu_bench.torch_layout
    monkeypatch.setattr(gpu_bench, "torch_layout", lambda weight, kind: layout(weight, kind).swapaxes(-1, -2)
                        if kind == "conv" and weight.ndim == 4 else layout(weight, kind))  # kernels flipped
    errors = gpu_bench.accuracy_check("lenet", keras, devices, torch, torch.device("cpu"),
                                      gpu_bench.parse_args(["--dry-run", "--batch", "2"]))
    assert not errors["ok"] and errors["loss"] > 1e-6


def test_the_table_says_which_targets_are_met():
    times = lambda ms: {"first_call_ms": 100.0, "latency_ms": ms, "throughput_ms": ms, "host_ms": None,  # noqa
                        "device_ms": None}
    rows = [{"case": "lenet", "tf32": "off", "batch": 64, "tinyconv": times(2.0), "torch": times(2.4),
             "accuracy": {"loss": 1e-16, "gradients": 3e-13, "ok": True}},
            {"case": "resnet20", "tf32": "on", "batch": 128, "tinyconv": times(10.0), "torch": times(4.0),
             "accuracy": {"loss": 1e-16, "gradients": 0.5, "ok": False}}]
    text = "\n".join(gpu_bench.table(rows))
    assert "| 1.20x | met (>= 1.0x) |" in text
    assert "| 0.40x | missed (>= 0.5x) |" in text
    assert "| resnet20 | 1.00e-16 | 5.00e-01 | NO |" in text


def test_the_gpu_check_runs_every_stage_and_writes_one_report(tmp_path):
    report = tmp_path / "gpu-check" / "report.md"
    result = run_script("tools/gpu_check.py", "--dry-run", "--report", str(report), "--census", "lenet",
                        "--tests", "tests/gpu/test_raw_kernels.py -k only_float32",
                        "--bench-args", "--cases lenet --tf32 off --no-torch --no-accuracy", timeout=300)
    assert report.exists(), result.stdout + result.stderr
    text = report.read_text()
    assert "Dry run on the CuPy stand-in" in text
    for stage in ("build", "tests", "census", "benchmark"):
        assert f"| {stage} |" in text
    assert "| tests | passed |" in text and "1 passed" in text
    assert "| benchmark | passed |" in text and "| lenet | 4 | off | tinyconv |" in text
    census_row = next(line for line in text.splitlines() if line.startswith("| lenet | 4 |"))
    syncs, ops = census_row.split("|")[3].strip(), census_row.split("|")[4].strip()
    assert float(syncs) >= 0 and ops.endswith("(60)")
    assert result.returncode == (0 if "| census | passed |" in text else 1)
    for log in ("build.log", "tests.log", "census.log", "benchmark.log"):
        assert (report.parent / log).exists()


def test_the_gpu_check_refuses_plainly_without_a_gpu():
    if devices.gpu_available():
        pytest.skip("this machine has a GPU")
    result = run_script("tools/gpu_check.py", "--no-bench")
    assert result.returncode != 0
    assert "gpu_check: needs CuPy and an NVIDIA GPU" in result.stderr


def test_the_census_counts_per_step_from_two_fits_of_different_lengths():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import gpu_check
    rows = [{"model": "lenet", "batch": 64, "budget": 60, "syncs_per_step": 0.0, "standin_ops_per_step": None,
             "sync_sites": {}, "device": {"kernels": 71.5, "copies_to_device": 2.0}},
            {"model": "resnet20", "batch": 128, "budget": 300, "syncs_per_step": 1.0, "standin_ops_per_step": 310.0,
             "sync_sites": {"tinyconv/losses.py:12": 4}, "device": None}]
    text = gpu_check.census_table(rows)
    assert "| lenet | 64 | 0 | - (60) | 71.5 | 0 | 2 | 0 |" in text
    assert "| resnet20 | 128 | 1 | 310 over (300) | not measured |" in text
    assert "`tinyconv/losses.py:12` x4" in text
    assert gpu_check.LONG_FIT > gpu_check.SHORT_FIT
