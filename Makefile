# The two commands: `make demo` and `make test` (both run set-up first).
PY := .venv/bin/python
JULIA = $$(cat .venv/julia-path)
JULIA_TEST = JULIA_NUM_THREADS=$$(nproc) $(JULIA) --startup-file=no --project=julia/RecovarCore

.PHONY: setup test test-julia test-python demo bench fixtures
setup:
	@scripts/setup.sh

test: setup
	@$(MAKE) --no-print-directory test-julia test-python

test-julia:
	$(JULIA_TEST) julia/RecovarCore/test/runtests.jl

test-python:
	$(PY) -m pytest -q tests

demo: setup
	.venv/bin/recovar-jl demo

bench: setup
	$(PY) bench/run.py

# Reference fixtures from recovar 1.0.5 (needs a separate venv; see scripts/fixtures/README.md).
fixtures:
	scripts/fixtures/make_all.sh
