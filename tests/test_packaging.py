"""What a user gets from the sdist and the wheel.

The sdist must hold everything needed to build tinyconv and run its tests (every test file,
conftest.py, the docs and examples they check, the kernels' Cython sources) and no build output;
the wheel holds the Python modules and stripped compiled kernels, not the C that Cython generates
nor the Cython sources.  Both are built here the way pip builds them (setuptools' PEP 517
backend), without network access; the wheel from the sdist with one small kernel module only, to
stay quick.  ``make wheel`` builds the full wheel, repairs it into a manylinux one and
smoke-tests it in a fresh venv.
"""
import os
import pathlib
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
KERNEL_SOURCE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h")
BUILD_OUTPUT_SUFFIXES = (".c", ".so", ".o", ".pyc")

needs_source_tree = pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")


def _build(kind, source_dir, out_dir, env=None):
    """Run setuptools' PEP 517 hook build_sdist / build_wheel in source_dir; the built file's path."""
    hook = f"from setuptools import build_meta; print(build_meta.build_{kind}({str(out_dir)!r}))"
    result = subprocess.run([sys.executable, "-c", hook], cwd=source_dir, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, **(env or {})))
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir / result.stdout.strip().splitlines()[-1]


def _tree_files(folder, suffix=""):
    """The files under a folder of the source tree, relative to the root (caches left out)."""
    return {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob(f"*{suffix}")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """(path of the sdist, its member names relative to its top folder)."""
    path = _build("sdist", ROOT, tmp_path_factory.mktemp("sdist"))
    with tarfile.open(path) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    return path, names


def test_pyproject_declares_an_spdx_license_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert project["classifiers"] and project["authors"]
    tested = f"Programming Language :: Python :: {sys.version_info.major}.{sys.version_info.minor}"
    assert tested in project["classifiers"], "the interpreter the suite runs on is not a declared version"


@needs_source_tree
def test_sdist_holds_every_test_the_docs_examples_and_kernel_sources(sdist):
    _, names = sdist
    for folder in ("tests", "docs", "examples"):
        missing = sorted(_tree_files(folder, ".py" if folder == "tests" else "") - names)
        assert not missing, f"the sdist lacks {len(missing)} files of {folder}/: {missing[:10]}"
    assert "tests/conftest.py" in names
    kernel_sources = {f for f in _tree_files("tinyconv/kernels/cpu") if f.endswith(KERNEL_SOURCE_SUFFIXES)}
    assert kernel_sources and not kernel_sources - names
    assert {"LICENSE", "README.md", "CHANGELOG.md", "setup.py", "pyproject.toml", "MANIFEST.in"} <= names


@needs_source_tree
def test_sdist_leaves_build_outputs_out(sdist):
    _, names = sdist
    outputs = sorted(n for n in names if n.endswith(BUILD_OUTPUT_SUFFIXES) or n.startswith("build/"))
    assert not outputs, f"the sdist ships build outputs: {outputs[:10]}"


def _elf_section_names(data):
    """The section names of a 64-bit little-endian ELF file (enough for Linux x86-64 and aarch64)."""
    shoff = int.from_bytes(data[0x28:0x30], "little")
    entsize, count, names_index = (int.from_bytes(data[o:o + 2], "little") for o in (0x3A, 0x3C, 0x3E))
    header = lambda i: data[shoff + i * entsize: shoff + (i + 1) * entsize]  # noqa: E731
    names_offset = int.from_bytes(header(names_index)[0x18:0x20], "little")
    sections = []
    for i in range(count):
        start = names_offset + int.from_bytes(header(i)[0:4], "little")
        sections.append(data[start:data.index(b"\0", start)].decode())
    return sections


@needs_source_tree
@pytest.mark.skipif(sys.platform != "linux", reason="reads the compiled module as a Linux ELF file")
def test_wheel_built_from_the_sdist_ships_no_c_and_stripped_kernels(sdist, tmp_path):
    path, _ = sdist
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path, filter="data")
    source = tmp_path / path.name[: -len(".tar.gz")]
    # One small kernel module keeps the build to seconds; the packaging rules are the same for all.
    wheel = _build("wheel", source, tmp_path / "wheel", env={"TINYCONV_BUILD_ONLY": "threads",
                                                           "TINYCONV_SANITIZE": "0"})
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        compiled = [n for n in names if n.endswith(".so")]
        assert [n.rsplit("/", 1)[-1].split(".")[0] for n in compiled] == ["threads"], compiled
        sections = _elf_section_names(archive.read(compiled[0]))
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped_sources = [n for n in names if n.endswith((".c",) + KERNEL_SOURCE_SUFFIXES)]
    assert not shipped_sources, f"the wheel ships build inputs: {shipped_sources}"
    assert ".text" in sections
    debug = [s for s in sections if s.startswith(".debug") or s == ".symtab"]
    assert not debug, f"the compiled kernels are not stripped: {debug}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "tinyconv/py.typed" in names  # type checkers read the wheel's hints (PEP 561)
    assert "License-Expression: MIT" in metadata
