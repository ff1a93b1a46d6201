"""The fair race (benchmarks/race.py) runs end to end on tiny settings, one framework per process."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import machine, race, race_cases

ROOT = Path(__file__).resolve().parent.parent
# What ``import tinyconv`` (done by conftest in this pytest process) sets for its subprocesses:
# the race must be shown to pass on nothing of its own, so its parent starts without them.
SET_BY_TINYCONV_IMPORT = ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")


@pytest.fixture(scope="module")
def tiny_race(tmp_path_factory):
    pytest.importorskip("torch", reason="the race compares with PyTorch, which is not installed")
    out = tmp_path_factory.mktemp("race")
    env = {name: value for name, value in os.environ.items() if name not in SET_BY_TINYCONV_IMPORT}
    command = [sys.executable, str(ROOT / "benchmarks" / "race.py"), "--rounds", "1", "--threads", "1",
               "--cases", "lenet5_28x28x1_b64", "--warmup", "1", "--samples", "1", "--min-sample-s", "0",
               "--gemm-sizes", "64", "--gemm-repeats", "1", "--out", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads((out / "race-latest.json").read_text()), finished.stdout


def test_report_names_the_machine_isa_and_blas(tiny_race):
    report, _ = tiny_race
    described = report["machine"]
    assert described["cpu"]["model"] == machine.cpu_model()
    assert described["cpu"]["slug"] == machine.cpu_slug()
    assert described["compiled_isas"], "the ISA each compiled module picked is missing"
    for isa in described["compiled_isas"].values():
        assert isa in ("portable", "not built") or re.fullmatch(r"(avx|sse|neon|sve)\w*", isa), isa
    assert described["numpy_blas"].get("internal_api") or described["numpy_blas"].get("note")
    assert described["torch"]["version"] and described["torch"]["blas"]


def test_each_framework_ran_in_its_own_process_with_nothing_set_for_torch(tiny_race):
    report, _ = tiny_race
    [row] = report["rows"]
    pids = row["pids"]
    assert len(pids["tinyconv"]) == len(pids["torch"]) == len(pids["both"]) == 1
    assert len({pids["tinyconv"][0], pids["torch"][0], pids["both"][0]}) == 3
    assert report["separate_processes"] is True
    torch_run = next(entry for entry in report["raw"] if entry["mode"] == "step" and entry["framework"] == "torch")
    assert torch_run["env_at_start"]["OMP_WAIT_POLICY"] is None
    assert "tinyconv" not in torch_run  # torch's process never imported tinyconv


def test_images_per_second_and_ratio_are_recorded(tiny_race):
    report, stdout = tiny_race
    [row] = report["rows"]
    for framework in ("tinyconv", "torch", "both"):
        assert math.isfinite(row[f"{framework}_images_per_s"]) and row[f"{framework}_images_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["tinyconv_images_per_s"] / row["torch_images_per_s"])
    assert report["geometric_mean_ratio"]["1"] == pytest.approx(row["ratio"])
    ceilings = report["ceilings"]["1"]
    assert ceilings["numpy_gemm_gflops"] > 0 and ceilings["torch_gemm_gflops"] > 0
    assert ceilings["theoretical_peak"]["cores"] == 1
    assert "LeNet-5 28x28x1 b64" in stdout and machine.cpu_model() in stdout


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="race case: expected one of"):
        race_cases.find_case("lenet6")
    with pytest.raises(ValueError, match="rounds >= 1, got 0"):
        race.run_race(cases=["lenet5_28x28x1_b64"], rounds=0)
    with pytest.raises(SystemExit):
        race.parse_args(["--threads", "0"])


def test_cpu_slug_tells_apart_generic_names_by_family_and_model():
    fields = {"model name": "Intel(R) Xeon(R) Processor", "cpu family": "6", "model": "143"}
    other = dict(fields, model="106")
    assert machine.cpu_slug(fields) != machine.cpu_slug(other)
    assert machine.cpu_slug(fields).startswith("intel-xeon-processor-f6m143-")


def test_theoretical_peak_says_where_each_factor_came_from():
    peak = machine.theoretical_peak(1, fma_units=1, fields={"flags": "fma avx2", "cpu MHz": "3000.0"})
    assert peak["gflops"] == pytest.approx(1 * 1 * 8 * 2 * 3.0) or peak["ghz_source"].startswith("cpufreq")
    assert peak["fma_units_source"] == "given (--fma-units)"
    assert machine.theoretical_peak(1, fields={"flags": ""})["vector_floats"] in (None, 4)


def test_lenet_on_32x32x3_is_lenet5_with_three_input_channels():
    torch = pytest.importorskip("torch", reason="the torch twin of the model needs PyTorch")
    from benchmarks import cases

    model, classic = race_cases.tinyconv_lenet_32x32x3(), cases.tinyconv_lenet()
    # Only the first convolution differs: 5x5x3x6 weights instead of 5x5x1x6.
    assert model.count_params() - classic.count_params() == 5 * 5 * 2 * 6
    assert model.count_params() == sum(p.numel() for p in race_cases.torch_lenet_32x32x3().parameters())
    assert race_cases.torch_lenet_32x32x3()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
