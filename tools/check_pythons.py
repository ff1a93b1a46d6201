"""`make pythons`: install tinyconv from its sdist on every Python it claims, and test each install.

pyproject.toml's ``requires-python`` is a promise; this tool checks it on the interpreters the
machine has.  Run it from the repository root with Python 3.11 or newer and ``build`` installed
(``pip install build``):

    python tools/check_pythons.py                      # every CPython found that requires-python admits
    python tools/check_pythons.py --python 3.11 --python /opt/py313/bin/python3
    python tools/check_pythons.py --sdist dist/tinyconv-0.1.0.tar.gz --below none --pytest-args "-k conv"

Interpreters are looked for on ``PATH`` (``python3``, ``python3.N``; pyenv's shims are passed
over: they run whichever version is selected, not the one they are named after) and in
``$PYENV_ROOT/versions`` (``~/.pyenv`` by default); the newest micro release of each minor one is
kept.  Then:

1. the sdist is built once (``python -m build --sdist``) into ``build/pythons/sdist/``, or
   ``--sdist`` names one to reuse;
2. for each Python, in ``build/pythons/<X.Y>/``: a fresh venv, where ``pip install <sdist>``
   compiles the Cython kernels with that interpreter (timed; the wheel cache is emptied first,
   so a wheel built by an earlier run is never reused);
3. the wheel smoke test of the Makefile (its ``WHEEL_SMOKE`` text, read from there so that one
   copy exists) runs in the venv's folder, away from the source tree;
4. a quick part of the test suite (``--tests``) runs from the unpacked sdist against the
   installed copy: pytest from the venv, ``--import-mode=importlib`` so that the sdist's
   ``tinyconv/`` folder is never put on ``sys.path``, and a small plugin records which
   ``tinyconv`` the tests imported; anything but the venv's copy is a failure;
5. an interpreter below requires-python (the newest found, or ``--below``) must be refused by
   pip with its "requires a different Python" message.

The table goes to ``build/pythons/report.md``, each command's output to a log beside it.  The
exit status is 0 only when every Python installed, passed the smoke test and the tests, and the
older one was refused.
"""
import argparse
import dataclasses
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path
from xml.etree import ElementTree

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "pythons"
DEFAULT_TESTS = ("tests/kernels", "tests/test_sequential.py", "tests/test_functional.py")
TEST_TOOLS = ("pytest", "hypothesis")  # taken with their version bounds from the dev extra
LIMITS = {"venv": 120, "sdist": 600, "install": 1800, "tools": 600, "smoke": 300, "tests": 1200}  # seconds
CLASSIFIER = re.compile(r"^Programming Language :: Python :: (\d+\.\d+)$")
REFUSAL = re.compile(r"^.*requires a different Python.*$", re.MULTILINE)
PROBE = ("import sys; print(sys.implementation.name, '.'.join(map(str, sys.version_info[:3])), "
         "sys.executable, sep='\\n')")

# Loaded into pytest with -p: writes where the tests' ``tinyconv`` came from when the session ends.
ORIGIN_PLUGIN = '''\
"""Records the file of the tinyconv module the test session imported (see tools/check_pythons.py)."""
import os
import sys


def pytest_sessionfinish(session):
    module = sys.modules.get("tinyconv")
    with open(os.environ["TINYCONV_ORIGIN_FILE"], "w") as record:
        record.write(getattr(module, "__file__", None) or "not imported")
'''
ORIGIN_PLUGIN_NAME = "tinyconv_origin_probe"


# ----------------------------------------------------------------------------------------------
# What the project claims
# ----------------------------------------------------------------------------------------------
def read_project(pyproject=ROOT / "pyproject.toml"):
    """The ``[project]`` table of pyproject.toml."""
    return tomllib.loads(Path(pyproject).read_text())["project"]


def requires_python(project):
    """The project's requires-python as a SpecifierSet.

    Raises:
        ValueError: when pyproject.toml declares none (then there is no claim to check).
    """
    if not project.get("requires-python"):
        raise ValueError("check_pythons: pyproject.toml's [project] declares no requires-python")
    return SpecifierSet(project["requires-python"])


def classifier_versions(project):
    """The X.Y versions named by the 'Programming Language :: Python :: X.Y' classifiers, oldest first."""
    found = [match.group(1) for text in project.get("classifiers", []) if (match := CLASSIFIER.match(text))]
    return sorted(found, key=lambda version: tuple(map(int, version.split("."))))


def testing_requirements(project):
    """The dev extra's requirements for the test tools (pytest, hypothesis), bounds included."""
    wanted = []
    for requirement in project.get("optional-dependencies", {}).get("dev", []):
        name = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()
        if name in TEST_TOOLS:
            wanted.append(requirement)
    missing = set(TEST_TOOLS) - {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in wanted}
    if missing:
        raise ValueError(f"check_pythons: the dev extra of pyproject.toml lacks {sorted(missing)}")
    return wanted


def read_smoke_test(makefile_text):
    """The Python text of the Makefile's ``define WHEEL_SMOKE ... endef``.

    Raises:
        ValueError: when the Makefile has no such block, or the text holds a ``$``: make expands
            those when it exports the variable, so the text read here would not be what
            ``make wheel`` runs.
    """
    match = re.search(r"^define WHEEL_SMOKE\n(.*?)\nendef$", makefile_text, re.DOTALL | re.MULTILINE)
    if not match:
        raise ValueError("check_pythons: the Makefile has no `define WHEEL_SMOKE ... endef` block")
    text = match.group(1)
    if "$" in text:
        raise ValueError("check_pythons: the Makefile's WHEEL_SMOKE holds a `$`, which make would expand")
    return text + "\n"


# ----------------------------------------------------------------------------------------------
# Finding interpreters
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Interpreter:
    """One Python found on the machine: its executable, implementation and (major, minor, micro)."""

    path: str
    implementation: str
    version: tuple

    @property
    def minor(self):
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def full(self):
        return ".".join(map(str, self.version))


def candidate_paths(path_variable, pyenv_root):
    """Executables that may be Pythons: ``python3``/``python3.N`` in each PATH folder (pyenv's and
    asdf's ``shims`` folders left out), then ``<pyenv_root>/versions/*/bin/python3``; each file once."""
    name = re.compile(r"^python3(\.\d+)?$")
    found = []
    for folder in [f for f in path_variable.split(os.pathsep) if f and Path(f).name != "shims"]:
        if os.path.isdir(folder):
            found += sorted(os.path.join(folder, entry) for entry in os.listdir(folder) if name.match(entry))
    if pyenv_root:
        found += sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3")))
    unique, seen = [], set()
    for path in found:
        real = os.path.realpath(path)
        if os.access(path, os.X_OK) and os.path.isfile(real) and real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def probe_interpreter(path):
    """Ask an executable what Python it is; None when it is not one that runs."""
    try:
        completed = subprocess.run([path, "-c", PROBE], capture_output=True, text=True, timeout=30,
                                   env=clean_environment(), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.split("\n")
    if completed.returncode != 0 or len(lines) < 3:
        return None
    return Interpreter(path=lines[2] or path, implementation=lines[0],
                       version=tuple(int(part) for part in lines[1].split(".")))


def newest_per_minor(interpreters):
    """CPython only, one per minor version (its newest micro release, the first found on a tie), oldest first."""
    chosen = {}
    for interpreter in interpreters:
        if interpreter.implementation != "cpython":
            continue
        best = chosen.get(interpreter.minor)
        if best is None or interpreter.version > best.version:
            chosen[interpreter.minor] = interpreter
    return sorted(chosen.values(), key=lambda interpreter: interpreter.version)


def admitted(interpreters, specifier):
    """The interpreters whose version requires-python admits (newest micro of each minor)."""
    return [i for i in newest_per_minor(interpreters) if specifier.contains(i.full, prereleases=True)]


def newest_refused(interpreters, specifier):
    """The newest interpreter older than every admitted version that requires-python refuses; None if none."""
    allowed = admitted(interpreters, specifier)
    oldest_allowed = allowed[0].version if allowed else (sys.maxsize,)
    refused = [i for i in newest_per_minor(interpreters)
               if not specifier.contains(i.full, prereleases=True) and i.version < oldest_allowed]
    return refused[-1] if refused else None


def resolve_request(request, interpreters):
    """An ``--python`` value: an executable path, or an X.Y version among the interpreters found.

    Raises:
        SystemExit: when the path is not a Python that runs, or no interpreter of that version was found.
    """
    if os.sep in request or os.path.isfile(request):
        interpreter = probe_interpreter(request)
        if interpreter is None:
            raise SystemExit(f"check_pythons: --python {request!r} is not a Python interpreter that runs")
        return interpreter
    matches = ([i for i in interpreters if i.implementation == "cpython" and i.full == request]
               or [i for i in newest_per_minor(interpreters) if i.minor == request])
    if not matches:
        known = ", ".join(i.full for i in newest_per_minor(interpreters)) or "none"
        raise SystemExit(f"check_pythons: no Python {request} found (found: {known}); pass its path instead")
    return matches[-1]


# ----------------------------------------------------------------------------------------------
# Running commands
# ----------------------------------------------------------------------------------------------
def clean_environment(**extra):
    """This process's environment without what would make a venv's Python import something else
    (PYTHONPATH pointing at the checkout, an active venv, the user's site-packages)."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")}
    environment["PYTHONNOUSERSITE"] = "1"
    environment.update(extra)
    return environment


@dataclasses.dataclass
class Outcome:
    """A finished command: its exit status (None past its time limit), output and seconds."""

    status: object
    output: str
    seconds: float

    @property
    def ok(self):
        return self.status == 0


def run_logged(command, log, limit, cwd=ROOT, environment=None):
    """Run a command with a time limit, appending the command line and its output to ``log``."""
    start = time.perf_counter()
    try:
        completed = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True,
                                   timeout=limit, env=environment or clean_environment(), check=False)
        status, output = completed.returncode, completed.stdout + completed.stderr
    except subprocess.TimeoutExpired as expired:
        parts = [p.decode(errors="replace") if isinstance(p, bytes) else (p or "")
                 for p in (expired.stdout, expired.stderr)]
        status, output = None, "".join(parts) + f"\n[stopped after the {limit} s limit]\n"
    seconds = time.perf_counter() - start
    with open(log, "a") as record:
        record.write(f"$ (cd {cwd} && {shlex.join(str(part) for part in command)})\n{output}\n"
                     f"[exit status {status}, {seconds:.1f} s]\n\n")
    return Outcome(status, output, seconds)


def build_ext_config(folder, jobs):
    """A distutils config file that builds the extensions ``jobs`` at a time; setuptools reads the
    file named by DIST_EXTRA_CONFIG, also inside pip's isolated build."""
    path = Path(folder) / "build_ext.cfg"
    path.write_text(f"[build_ext]\nparallel = {jobs}\n")
    return path


def build_sdist(out, log):
    """Build the sdist from the checkout into ``out/sdist``; its path."""
    folder = Path(out) / "sdist"
    shutil.rmtree(folder, ignore_errors=True)
    outcome = run_logged([sys.executable, "-m", "build", "--sdist", "--outdir", folder, ROOT], log, LIMITS["sdist"])
    archives = sorted(folder.glob("tinyconv-*.tar.gz"))
    if not outcome.ok or len(archives) != 1:
        raise SystemExit(f"check_pythons: `python -m build --sdist` failed (is `build` installed?); see {log}")
    return archives[0], outcome.seconds


def unpack(sdist, folder):
    """Unpack the sdist into ``folder`` (emptied first); the path of its top folder."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        top = {name.split("/", 1)[0] for name in archive.getnames()}
        archive.extractall(folder, filter="data")
    if len(top) != 1:
        raise SystemExit(f"check_pythons: {sdist} does not hold one top folder: {sorted(top)}")
    return folder / top.pop()


def venv_python(venv):
    return Path(venv) / "bin" / "python"


def make_venv(interpreter, venv, log):
    return run_logged([interpreter.path, "-m", "venv", "--clear", venv], log, LIMITS["venv"])


def pip_install(venv, sdist, log, pip_cache, build_config):
    """``pip install <sdist>`` in the venv.  The wheel cache is emptied first: pip keys a wheel it
    built by the sdist's path, and would otherwise install last run's build of a changed sdist."""
    shutil.rmtree(Path(pip_cache) / "wheels", ignore_errors=True)
    environment = clean_environment(PIP_CACHE_DIR=str(pip_cache), DIST_EXTRA_CONFIG=str(build_config))
    return run_logged([venv_python(venv), "-m", "pip", "install", "--no-input", sdist], log, LIMITS["install"],
                      environment=environment)


def junit_counts(xml_path):
    """passed, failed, errors, skipped of a pytest --junitxml report (all its test suites summed)."""
    root = ElementTree.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors", "skipped")}
    return {"passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
            "failed": total["failures"], "errors": total["errors"], "skipped": total["skipped"]}


def failed_tests(xml_path):
    """``module::test`` of each test a pytest --junitxml report records as failed or in error (a
    module that did not import is recorded by its name alone)."""
    cases = ElementTree.parse(xml_path).getroot().iter("testcase")
    return ["::".join(part for part in (case.get("classname"), case.get("name")) if part) for case in cases
            if case.find("failure") is not None or case.find("error") is not None]


def is_inside(path, folder):
    """True when ``path`` lies under ``folder`` (links resolved)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


# ----------------------------------------------------------------------------------------------
# One Python, and the one below
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Result:
    """What happened on one Python; ``problems`` empty means it passed."""

    interpreter: Interpreter
    pip: str = ""
    install_seconds: float = None
    smoke: str = "not run"
    tests: dict = None
    test_seconds: float = None
    imported_from: str = ""
    problems: list = dataclasses.field(default_factory=list)


def check_python(interpreter, sdist, smoke_text, tests, tools, out, pip_cache, build_config, pytest_args=()):
    """Venv, install from the sdist, smoke test, tests: the Result for one interpreter."""
    result = Result(interpreter)
    folder = Path(out) / interpreter.minor
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder / "check.log"
    venv = folder / "venv"
    if not make_venv(interpreter, venv, log).ok:
        result.problems.append(f"`python -m venv` failed (see {shown(log)})")
        return result
    result.pip = run_logged([venv_python(venv), "-m", "pip", "--version"], log, 60).output.split(" from ")[0]
    install = pip_install(venv, sdist, log, pip_cache, build_config)
    result.install_seconds = install.seconds
    if not install.ok:
        result.problems.append(f"pip install of the sdist failed (see {shown(log)})")
        return result
    if not re.search(r"Building wheel for tinyconv\b", install.output):
        result.problems.append("pip installed tinyconv without building it from the sdist")
    smoke = run_logged([venv_python(venv), "-c", smoke_text], log, LIMITS["smoke"], cwd=venv)
    passed_line = re.search(r"^wheel smoke test passed.*$", smoke.output, re.MULTILINE)
    result.smoke = passed_line.group(0) if smoke.ok and passed_line else "FAILED"
    if not smoke.ok:
        result.problems.append(f"the smoke test failed (see {shown(log)})")
    if not run_logged([venv_python(venv), "-m", "pip", "install", "--no-input", *tools], log, LIMITS["tools"],
                      environment=clean_environment(PIP_CACHE_DIR=str(pip_cache))).ok:
        result.problems.append(f"installing {' '.join(tools)} failed (see {shown(log)})")
        return result
    run_tests(result, venv, unpack(sdist, folder / "src"), tests, folder, log, pytest_args)
    return result


def run_tests(result, venv, source, tests, folder, log, pytest_args=()):
    """Run pytest from the unpacked sdist against the venv's tinyconv; fills result's test fields."""
    plugin_dir = folder / "plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / f"{ORIGIN_PLUGIN_NAME}.py").write_text(ORIGIN_PLUGIN)
    origin, xml = folder / "tinyconv_origin.txt", folder / "junit.xml"
    # The venv's pytest script (not `python -m pytest`, which puts the working folder, and with it
    # the sdist's tinyconv/, first on sys.path); importlib mode adds no test folder to sys.path.
    command = [Path(venv) / "bin" / "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
               "-p", ORIGIN_PLUGIN_NAME, f"--junitxml={xml}", f"--rootdir={source}", *pytest_args, *tests]
    environment = clean_environment(PYTHONPATH=str(plugin_dir), TINYCONV_ORIGIN_FILE=str(origin))
    outcome = run_logged(command, log, LIMITS["tests"], cwd=source, environment=environment)
    result.test_seconds = outcome.seconds
    if not xml.exists():
        result.problems.append(f"pytest ran no tests (exit status {outcome.status}; see {shown(log)})")
        return
    result.tests = junit_counts(xml)
    result.imported_from = origin.read_text() if origin.exists() else "not recorded"
    if not is_inside(result.imported_from, venv):
        result.problems.append(f"the tests imported {result.imported_from}, not the venv's installed copy")
    if result.tests["failed"] or result.tests["errors"] or not outcome.ok:
        failed = failed_tests(xml)
        named = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
        result.problems.append(f"{result.tests['failed']} tests failed, {result.tests['errors']} errors "
                               f"(pytest exit status {outcome.status}; see {shown(log)})"
                               + (f": {named}" if named else ""))


@dataclasses.dataclass
class Refusal:
    """pip on a Python below requires-python: ``message`` is pip's line saying why it refused."""

    interpreter: Interpreter
    refused: bool
    message: str
    seconds: float


def check_refusal(interpreter, sdist, out, pip_cache, build_config):
    """``pip install <sdist>`` on a Python that requires-python excludes; it must be refused, and say why."""
    folder = Path(out) / f"below-{interpreter.minor}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder / "check.log"
    if not make_venv(interpreter, folder / "venv", log).ok:
        return Refusal(interpreter, False, f"`python -m venv` failed (see {shown(log)})", 0.0)
    outcome = pip_install(folder / "venv", sdist, log, pip_cache, build_config)
    message = REFUSAL.search(outcome.output)
    if outcome.ok:
        return Refusal(interpreter, False, "pip installed it", outcome.seconds)
    last = (outcome.output.strip().splitlines() or ["no output"])[-1]
    return Refusal(interpreter, bool(message), message.group(0).strip() if message else last, outcome.seconds)


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------
def shown(path):
    """A path relative to the repository root when it lies inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def seconds_text(seconds):
    return "-" if seconds is None else f"{seconds:.0f} s"


def classifier_notes(listed, passed):
    """Lines comparing the classifiers' versions with the versions that passed here."""
    unlisted = [v for v in passed if v not in listed]
    untested = [v for v in listed if v not in passed]
    notes = [f"Listed in the classifiers: {', '.join(listed) or 'none'}; passed here: {', '.join(passed) or 'none'}."]
    if unlisted:
        notes.append("Passed but not listed: " + ", ".join(f'"Programming Language :: Python :: {v}"'
                                                             for v in unlisted) + " can be added.")
    if untested:
        notes.append(f"Listed but not passed here: {', '.join(untested)}.")
    return notes


def render_report(results, refusal, specifier, listed, sdist, sdist_seconds, tests):
    """The markdown report: one row per Python, the refusal below requires-python, the classifiers, problems."""
    lines = ["# tinyconv on the Pythons it claims", "",
             f"requires-python `{specifier}`; sdist `{shown(sdist)}`"
             + (f" (built in {sdist_seconds:.0f} s)" if sdist_seconds is not None else " (reused)") + ".",
             f"Tests, run from the unpacked sdist against the installed copy: `{' '.join(tests)}`.", "",
             ("| Python | pip | install from sdist | smoke test | passed | failed | errors | skipped | tests time "
              "| tinyconv imported from | result |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        counts = r.tests or {}
        row = [r.interpreter.full, r.pip or "-", seconds_text(r.install_seconds),
               "ok" if r.smoke.startswith("wheel smoke test passed") else r.smoke,
               *(str(counts.get(key, "-")) for key in ("passed", "failed", "errors", "skipped")),
               seconds_text(r.test_seconds), f"`{shown(r.imported_from)}`" if r.imported_from else "-",
               "ok" if not r.problems else "FAILED"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Below requires-python", ""]
    if refusal is None:
        lines.append("Not checked (no older interpreter found, or --below none).")
    else:
        verdict = "refused by pip" if refusal.refused else "NOT refused as expected"
        lines.append(f"Python {refusal.interpreter.full}: {verdict} after {refusal.seconds:.0f} s: "
                     f"`{refusal.message}`")
    lines += ["", "## Classifiers", ""]
    lines += classifier_notes(listed, [r.interpreter.minor for r in results if not r.problems])
    problems = [f"- Python {r.interpreter.full}: {p}" for r in results for p in r.problems]
    if refusal is not None and not refusal.refused:
        problems.append(f"- Python {refusal.interpreter.full} (below requires-python): {refusal.message}")
    lines += ["", "## Problems", ""] + (problems or ["None."])
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Install tinyconv from its sdist into a fresh venv of every "
                                     "Python that requires-python admits, smoke-test and test each; one report.")
    parser.add_argument("--python", action="append", default=[], metavar="X.Y|PATH",
                        help="an interpreter to check (repeatable); default every CPython found that "
                             "requires-python admits")
    parser.add_argument("--below", default="auto", metavar="X.Y|PATH|none",
                        help="the Python below requires-python that pip must refuse (default: the newest found)")
    parser.add_argument("--sdist", help="reuse this sdist instead of building one")
    parser.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS),
                        help=f"what pytest runs, relative to the sdist (default {' '.join(DEFAULT_TESTS)})")
    parser.add_argument("--pytest-args", default="", metavar="ARGS",
                        help="more pytest options, as one shell-quoted string (e.g. \"-k 'not slow'\")")
    parser.add_argument("--out", default=str(OUT),
                        help="where the venvs, logs and report.md go (default build/pythons)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                        help="extensions compiled at a time during each install (default: the CPUs usable here)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    project = read_project()
    specifier = requires_python(project)
    smoke_text = read_smoke_test((ROOT / "Makefile").read_text())
    tools = testing_requirements(project)
    found = [i for i in map(probe_interpreter, candidate_paths(os.environ.get("PATH", ""),
             os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"))) if i is not None]
    chosen = [resolve_request(request, found) for request in args.python] or admitted(found, specifier)
    for interpreter in chosen:
        if not specifier.contains(interpreter.full, prereleases=True):
            raise SystemExit(f"check_pythons: Python {interpreter.full} is outside requires-python {specifier}; "
                             "pass it as --below to check that pip refuses it")
    if not chosen:
        raise SystemExit(f"check_pythons: no CPython found that requires-python {specifier} admits")
    below = None if args.below == "none" else (newest_refused(found, specifier) if args.below == "auto"
                                              else resolve_request(args.below, found))
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"check_pythons: {', '.join(i.full for i in chosen)}"
          + (f"; pip must refuse {below.full}" if below else "") + f"; logs in {shown(out)}/", flush=True)
    if args.sdist:
        sdist, sdist_seconds = Path(args.sdist).resolve(), None
    else:
        sdist, sdist_seconds = build_sdist(out, out / "sdist.log")
    pip_cache, build_config = out / "pip-cache", build_ext_config(out, args.jobs)
    results = []
    for interpreter in chosen:
        print(f"  Python {interpreter.full} ({interpreter.path}) ...", flush=True)
        result = check_python(interpreter, sdist, smoke_text, args.tests, tools, out, pip_cache, build_config,
                              shlex.split(args.pytest_args))
        results.append(result)
        print(f"    install {seconds_text(result.install_seconds)}, tests {result.tests}, "
              f"{'ok' if not result.problems else '; '.join(result.problems)}", flush=True)
    refusal = check_refusal(below, sdist, out, pip_cache, build_config) if below else None
    report = render_report(results, refusal, specifier, classifier_versions(project), sdist, sdist_seconds,
                           args.tests + shlex.split(args.pytest_args))
    (out / "report.md").write_text(report)
    print(report)
    failed = any(r.problems for r in results) or (refusal is not None and not refusal.refused)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
