"""tools/check_pythons.py (``make pythons``): its logic, without building a venv.

Finding interpreters and keeping those that requires-python admits, reading the claims and the
smoke test from pyproject.toml and the Makefile, counting pytest's results, telling which
``tinyconv`` a test run imported, and writing the report.  The tool itself (a venv and a
compiled install per Python, minutes each) is run by ``make pythons``.
"""
import importlib.util
import os
import pathlib
import stat
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "check_pythons.py"

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="needs the source tree's tools/ folder")


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("check_pythons", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interpreter(tool, version, implementation="cpython"):
    return tool.Interpreter(f"/opt/python{version}/bin/python3", implementation,
                            tuple(int(part) for part in version.split(".")))


@pytest.fixture
def machine(tool):
    """The interpreters of a machine like the development one: pyenv's 3.9 to 3.13, an older 3.11
    beside the newest, and a PyPy that requires-python would admit but the package does not support."""
    versions = ["3.9.18", "3.10.13", "3.11.2", "3.11.7", "3.12.1", "3.13.0"]
    return [interpreter(tool, v) for v in versions] + [interpreter(tool, "3.11.9", "pypy")]


def executable(path, text="#!/bin/sh\nexit 0\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# ----------------------------------------------------------------------------------------------
# Choosing interpreters
# ----------------------------------------------------------------------------------------------
def test_admitted_keeps_the_newest_cpython_of_each_minor_version_requires_python_allows(tool, machine):
    chosen = tool.admitted(machine, tool.SpecifierSet(">=3.11"))
    assert [i.full for i in chosen] == ["3.11.7", "3.12.1", "3.13.0"]
    assert all(i.implementation == "cpython" for i in chosen)
    assert [i.full for i in tool.admitted(machine, tool.SpecifierSet(">=3.9,<3.12"))] == ["3.9.18", "3.10.13",
                                                                                         "3.11.7"]


def test_newest_refused_is_the_python_just_below_the_claim(tool, machine):
    assert tool.newest_refused(machine, tool.SpecifierSet(">=3.11")).full == "3.10.13"
    assert tool.newest_refused(machine, tool.SpecifierSet(">=3.9")) is None
    # A version above an upper bound is not "below": the check is about the oldest claimed Python.
    assert tool.newest_refused(machine, tool.SpecifierSet(">=3.12,<3.13")).full == "3.11.7"


def test_resolve_request_takes_a_minor_version_or_names_what_was_found(tool, machine):
    assert tool.resolve_request("3.11", machine).full == "3.11.7"
    assert tool.resolve_request("3.11.2", machine).full == "3.11.2"  # an exact release, not the newest
    with pytest.raises(SystemExit, match=r"no Python 3\.8 found \(found: 3\.9\.18, 3\.10\.13, 3\.11\.7"):
        tool.resolve_request("3.8", machine)
    with pytest.raises(SystemExit, match="is not a Python interpreter that runs"):
        tool.resolve_request("/nonexistent/bin/python3", machine)


def test_candidate_paths_reads_path_and_pyenv_and_skips_shims_and_duplicates(tool, tmp_path):
    bin_dir, shims = tmp_path / "bin", tmp_path / "pyenv" / "shims"
    real = executable(bin_dir / "python3.12")
    (bin_dir / "python3").symlink_to(real)  # the same interpreter under two names: listed once
    executable(bin_dir / "python3-config")
    executable(bin_dir / "python2.7")
    executable(shims / "python3.11")
    (bin_dir / "python3.99").write_text("not executable")
    pyenv_python = executable(tmp_path / "pyenv" / "versions" / "3.11.7" / "bin" / "python3")
    found = tool.candidate_paths(os.pathsep.join([str(shims), str(bin_dir), str(tmp_path / "missing")]),
                                 str(tmp_path / "pyenv"))
    assert found == [str(bin_dir / "python3"), str(pyenv_python)]


def test_probe_interpreter_reads_a_running_python_and_rejects_other_programs(tool, tmp_path):
    this = tool.probe_interpreter(sys.executable)
    assert this.implementation == sys.implementation.name
    assert this.version == tuple(sys.version_info[:3])
    assert tool.probe_interpreter(str(executable(tmp_path / "python3", "#!/bin/sh\nexit 3\n"))) is None
    assert tool.probe_interpreter(str(tmp_path / "absent")) is None


# ----------------------------------------------------------------------------------------------
# The claims, the smoke test, the test tools
# ----------------------------------------------------------------------------------------------
def test_requires_python_and_classifier_versions(tool):
    project = {"requires-python": ">=3.10",
               "classifiers": ["Programming Language :: Python :: 3", "Programming Language :: Python :: 3 :: Only",
                               "Programming Language :: Python :: 3.10", "Programming Language :: Python :: 3.9",
                               "Programming Language :: Cython"]}
    assert str(tool.requires_python(project)) == ">=3.10"
    assert tool.classifier_versions(project) == ["3.9", "3.10"]
    with pytest.raises(ValueError, match="declares no requires-python"):
        tool.requires_python({"name": "tinyconv"})


def test_the_project_claims_only_pythons_the_tool_admits(tool):
    project = tool.read_project()
    specifier = tool.requires_python(project)
    assert tool.classifier_versions(project), "no 'Programming Language :: Python :: X.Y' classifier"
    for version in tool.classifier_versions(project):
        assert specifier.contains(f"{version}.0"), f"classifier {version} is outside requires-python {specifier}"


def test_read_smoke_test_returns_the_makefiles_python(tool):
    text = tool.read_smoke_test((ROOT / "Makefile").read_text())
    compile(text, "WHEEL_SMOKE", "exec")
    assert "compiled_kernels_available" in text and "site-packages" in text
    makefile = "define WHEEL_SMOKE\nimport tinyconv\nprint('ok')\nendef\nexport WHEEL_SMOKE\n"
    assert tool.read_smoke_test(makefile) == "import tinyconv\nprint('ok')\n"
    with pytest.raises(ValueError, match="no `define WHEEL_SMOKE"):
        tool.read_smoke_test("wheel:\n\tpython -c pass\n")
    with pytest.raises(ValueError, match="which make would expand"):
        tool.read_smoke_test("define WHEEL_SMOKE\nprint('$(HOME)')\nendef\n")


def test_testing_requirements_come_from_the_dev_extra(tool):
    names = [r.split(">")[0].split("=")[0] for r in tool.testing_requirements(tool.read_project())]
    assert sorted(names) == ["hypothesis", "pytest"]
    with pytest.raises(ValueError, match=r"lacks \['hypothesis'\]"):
        tool.testing_requirements({"optional-dependencies": {"dev": ["pytest>=7", "Cython>=3.0"]}})


def test_clean_environment_drops_what_would_import_the_checkout(tool, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/venv")
    environment = tool.clean_environment(PIP_CACHE_DIR="/tmp/cache")
    assert "PYTHONPATH" not in environment and "VIRTUAL_ENV" not in environment
    assert environment["PYTHONNOUSERSITE"] == "1" and environment["PIP_CACHE_DIR"] == "/tmp/cache"


# ----------------------------------------------------------------------------------------------
# Test results and where tinyconv came from
# ----------------------------------------------------------------------------------------------
def test_junit_counts_sums_every_suite(tool, tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text('<?xml version="1.0"?><testsuites>'
                      '<testsuite name="pytest" tests="10" failures="2" errors="1" skipped="3"/>'
                      '<testsuite name="more" tests="5" failures="0" errors="0" skipped="1"/></testsuites>')
    assert tool.junit_counts(report) == {"passed": 8, "failed": 2, "errors": 1, "skipped": 4}


def test_failed_tests_names_the_failures_and_errors(tool, tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="4" failures="1" errors="1">'
                      '<testcase classname="tests.kernels.test_a" name="test_ok"/>'
                      '<testcase classname="tests.kernels.test_a" name="test_bad[x]"><failure message="no"/></testcase>'
                      '<testcase classname="tests.test_b" name="test_setup"><error message="fixture"/></testcase>'
                      '<testcase classname="tests.test_b" name="test_skip"><skipped message="later"/></testcase>'
                      '<testcase classname="" name="tests.test_c"><error message="collection failure"/></testcase>'
                      '</testsuite></testsuites>')
    assert tool.failed_tests(report) == ["tests.kernels.test_a::test_bad[x]", "tests.test_b::test_setup",
                                         "tests.test_c"]


def fake_venv_and_sdist(tmp_path, sdist_conftest=""):
    """A venv stand-in whose pytest sees its own ``tinyconv`` (as an installed copy), and an
    unpacked-sdist stand-in with a ``tinyconv/`` source folder and one test importing it."""
    venv = tmp_path / "venv"
    site = venv / "lib" / "site-packages"
    (site / "tinyconv").mkdir(parents=True)
    (site / "tinyconv" / "__init__.py").write_text("")
    executable(venv / "bin" / "pytest", f'#!/bin/sh\nPYTHONPATH="$PYTHONPATH:{site}" exec {sys.executable} -P '
                                         '-m pytest "$@"\n')
    source = tmp_path / "sdist"
    (source / "tinyconv").mkdir(parents=True)
    (source / "tinyconv" / "__init__.py").write_text("SOURCE_TREE = True\n")
    (source / "tests").mkdir()
    (source / "tests" / "__init__.py").write_text("")
    (source / "tests" / "conftest.py").write_text(sdist_conftest)
    (source / "tests" / "test_import.py").write_text("import tinyconv\n\ndef test_imports():\n    assert tinyconv\n")
    return venv, source


def test_run_tests_records_the_installed_copy_and_counts(tool, tmp_path):
    venv, source = fake_venv_and_sdist(tmp_path)
    result = tool.Result(interpreter(tool, "3.11.7"))
    (tmp_path / "out").mkdir()
    tool.run_tests(result, venv, source, ["tests"], tmp_path / "out", tmp_path / "out" / "check.log")
    log = (tmp_path / "out" / "check.log").read_text()
    assert result.tests == {"passed": 1, "failed": 0, "errors": 0, "skipped": 0}, log
    assert result.imported_from == str(venv / "lib" / "site-packages" / "tinyconv" / "__init__.py")
    assert result.problems == []


def test_run_tests_flags_a_run_that_imported_the_source_tree(tool, tmp_path):
    # A conftest that puts the sdist's root first on sys.path, as pytest's default import mode does.
    conftest = "import pathlib, sys\nsys.path.insert(0, str(pathlib.Path(__file__).parents[1]))\n"
    venv, source = fake_venv_and_sdist(tmp_path, conftest)
    result = tool.Result(interpreter(tool, "3.11.7"))
    (tmp_path / "out").mkdir()
    tool.run_tests(result, venv, source, ["tests"], tmp_path / "out", tmp_path / "out" / "check.log")
    assert result.imported_from == str(source / "tinyconv" / "__init__.py")
    assert result.problems == [f"the tests imported {source / 'tinyconv' / '__init__.py'}, "
                               + "not the venv's installed copy"]


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------
def test_report_has_a_row_per_python_the_refusal_and_the_classifier_gaps(tool, tmp_path):
    passed = tool.Result(interpreter(tool, "3.11.7"), pip="pip 23.2.1", install_seconds=198.4,
                         smoke="wheel smoke test passed: tinyconv 0.1.0, compiled kernels, OpenMP True, loss 0.69",
                         tests={"passed": 739, "failed": 0, "errors": 0, "skipped": 84}, test_seconds=11.2,
                         imported_from="/x/venv/lib/python3.11/site-packages/tinyconv/__init__.py")
    failed = tool.Result(interpreter(tool, "3.13.0"), pip="pip 24.2", install_seconds=210.0, smoke="FAILED",
                         problems=["the smoke test failed (see check.log)"])
    refusal = tool.Refusal(interpreter(tool, "3.10.13"), True,
                           "ERROR: Package 'tinyconv' requires a different Python: 3.10.13 not in '>=3.11'", 35.2)
    text = tool.render_report([passed, failed], refusal, tool.SpecifierSet(">=3.11"), ["3.11", "3.12"],
                              tmp_path / "tinyconv-0.1.0.tar.gz", 19.5, ["tests/kernels"])
    rows = [line for line in text.splitlines() if line.startswith("| 3.")]
    assert rows[0] == ("| 3.11.7 | pip 23.2.1 | 198 s | ok | 739 | 0 | 0 | 84 | 11 s | "
                       "`/x/venv/lib/python3.11/site-packages/tinyconv/__init__.py` | ok |")
    assert rows[1] == "| 3.13.0 | pip 24.2 | 210 s | FAILED | - | - | - | - | - | - | FAILED |"
    assert "Python 3.10.13: refused by pip after 35 s: `ERROR: Package 'tinyconv' requires a different Python" in text
    assert "Listed but not passed here: 3.12." in text
    assert "- Python 3.13.0: the smoke test failed (see check.log)" in text
    assert "(built in 20 s)" in text


def test_classifier_notes_name_the_classifiers_to_add(tool):
    notes = tool.classifier_notes(["3.11"], ["3.11", "3.12", "3.13"])
    assert notes[1] == ('Passed but not listed: "Programming Language :: Python :: 3.12", '
                        '"Programming Language :: Python :: 3.13" can be added.')
    assert tool.classifier_notes(["3.11"], ["3.11"]) == ["Listed in the classifiers: 3.11; passed here: 3.11."]


def test_a_python_that_was_not_refused_is_a_problem_in_the_report(tool, tmp_path):
    refusal = tool.Refusal(interpreter(tool, "3.10.13"), False, "pip installed it", 200.0)
    text = tool.render_report([], refusal, tool.SpecifierSet(">=3.11"), ["3.11"], tmp_path / "x.tar.gz", None, [])
    assert "Python 3.10.13: NOT refused as expected after 200 s: `pip installed it`" in text
    assert "- Python 3.10.13 (below requires-python): pip installed it" in text
    assert "(reused)" in text
