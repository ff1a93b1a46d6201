# tinyconv: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
STAMP := build/.installed

.PHONY: install demo test bench fuzz sanitize clean

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

# Benchmarks compare with PyTorch (CPU build). See benchmarks/README.md.
bench: install
	$(PIP) install "torch==2.13.0"
	$(PYTHON) benchmarks/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find tinyconv -name '*.so' -delete -o -name '*.c' -path '*kernels/cpu/*' -delete
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
