"""The benchmark suite runs end to end on tiny sizes and reports a ratio for every case."""
import json
import math

import pytest

pytest.importorskip("torch", reason="the benchmarks compare with PyTorch, which is not installed")

from benchmarks import cases, run  # noqa: E402


def test_quick_suite_reports_a_ratio_per_case(tmp_path):
    run.run_suite(threads=1, repeats=1, quick=True, out_dir=tmp_path, chart=False, verbose=False)

    report = json.loads((tmp_path / "latest.json").read_text())
    expected = [case.name for case in cases.all_cases(quick=True)]
    assert [result["case"] for result in report["results"]] == expected
    for result in report["results"]:
        assert math.isfinite(result["ratio"]) and result["ratio"] > 0, result
        assert result["ratio"] == pytest.approx(result["torch_ms"] / result["tinyconv_ms"])
    assert report["threads"] == 1 and report["quick"] is True


def test_case_filter_keeps_matching_cases_only():
    selected = cases.select_cases(cases.all_cases(quick=True), ["lenet5"])
    assert [case.name for case in selected] == ["lenet5/train_step", "lenet5/inference"]
