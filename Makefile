# The README's two commands: `make demo` (the main job) and `make test` (what CI runs).
# Both install the Debian packages they need when missing (as root; otherwise they stop with
# the exact apt-get command) and create or update the virtualenv, so they work on a fresh
# clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed.stamp

.PHONY: demo test system-deps-demo system-deps-test test-fast lint typecheck generate check-generated proto check-proto bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

system-deps-demo:
	bash scripts/system_deps.sh demo

system-deps-test:
	bash scripts/system_deps.sh test

demo: system-deps-demo $(STAMP)
	$(BIN)/python -m examples.demo

test: system-deps-test $(STAMP)
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration and not e2e and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sloengine sidecar instrumentation tests bench examples loadtests

typecheck: $(STAMP)
	$(BIN)/mypy

# Regenerate the committed alerts/ and dashboards/ from the example catalog.
generate: $(STAMP)
	$(BIN)/sloengine generate examples/slos --out .
	$(BIN)/sloengine generate examples/slos --format prometheus-operator --out deploy/kubernetes/monitoring

check-generated: $(STAMP)
	rm -rf .gen-check && mkdir .gen-check
	$(BIN)/sloengine generate examples/slos --out .gen-check
	diff -r --exclude=tests .gen-check/alerts alerts
	diff -r .gen-check/dashboards dashboards
	$(BIN)/sloengine generate examples/slos --format prometheus-operator --out .gen-check/k8s
	diff -r .gen-check/k8s deploy/kubernetes/monitoring
	rm -rf .gen-check

proto: $(STAMP)
	bash scripts/gen_proto.sh

check-proto: $(STAMP)
	rm -rf .proto-check && bash scripts/gen_proto.sh .proto-check
	diff -r --exclude=__init__.py --exclude=engine.proto --exclude=__pycache__ .proto-check/sloengine/v1 sloengine/proto/sloengine/v1
	diff -r --exclude=__init__.py --exclude=remote.proto --exclude=__pycache__ .proto-check/prometheus sloengine/proto/prometheus
	rm -rf .proto-check

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache artifacts .demo
