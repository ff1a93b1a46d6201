# tinyconv: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
STAMP := build/.installed

.PHONY: install demo test bench clean

# Editable install with the test and data extras; rebuilt when the build inputs change.
$(STAMP): pyproject.toml setup.py $(wildcard tinyconv/kernels/cpu/*.pyx tinyconv/kernels/cpu/*.pxd tinyconv/kernels/cpu/*.pxi tinyconv/kernels/cpu/*.h \
                                  tinyconv/kernels/cpu/*/*.pyx tinyconv/kernels/cpu/*/*.pxd tinyconv/kernels/cpu/*/*.pxi tinyconv/kernels/cpu/*/*.h)
	$(PIP) install -e ".[dev,data]"
	@mkdir -p build && touch $(STAMP)

install: $(STAMP)

demo: install
	$(PYTHON) examples/lenet_digits.py

test: install
	$(PYTHON) -m pytest -q

# Benchmarks compare with PyTorch (CPU build). See benchmarks/README.md.
bench: install
	$(PIP) install "torch==2.13.0"
	$(PYTHON) benchmarks/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find tinyconv -name '*.so' -delete -o -name '*.c' -path '*kernels/cpu/*' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
