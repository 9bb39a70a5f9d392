# One entry point per task; every target installs what it needs into .venv/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APP ?= examples/counter.py
PORT ?= 50051
PYTEST_ARGS ?=

.PHONY: install stubs check-stubs buf serve test test-fault fuzz soak lint typecheck check bench bench-full clean ecommerce docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Python stubs (motion_grpc/_proto) and, when Go is installed, Go stubs (clients/go/motionpb), with pinned generators.
stubs: $(STAMP)
	$(BIN)/python tools/gen_stubs.py
	if command -v go >/dev/null; then bash clients/go/generate.sh; else echo "stubs: go not found, Go stubs left as they are"; fi

check-stubs: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit/test_stubs.py
	if command -v go >/dev/null; then bash clients/go/generate.sh && git diff --exit-code -- clients/go/motionpb; fi

# buf lint (STANDARD + COMMENTS) and buf breaking against the released v1 proto (tools/buf/released-v1).
BUF := tools/buf/node_modules/.bin/buf
$(BUF): tools/buf/package.json tools/buf/package-lock.json
	cd tools/buf && npm ci --no-audit --no-fund
	touch $(BUF)

buf: $(BUF)
	$(BUF) lint
	$(BUF) breaking --against tools/buf/released-v1

# The server's own log stays at WARNING unless LOG_LEVEL says otherwise, so its start line shows once.
LOG_LEVEL ?= WARNING
SERVE_ARGS ?=
ifeq ($(APP),examples/counter.py)
export CALL_GRPCURL := grpcurl -plaintext -import-path proto -proto motion/v1/motion.proto \
	-d '{"instance": {"component": "Counter", "instance_id": "me"}, "flow": "add", "props": {"n": 2}}' \
	localhost:$(PORT) motion.v1.MotionService/Run
export CALL_PYTHON := $(BIN)/python -c "from motion_grpc import MotionClient; \
	print(MotionClient('localhost:$(PORT)').instance('Counter', 'me').run('add', {'n': 2}))"
else
export CALL_GRPCURL := grpcurl -plaintext -import-path proto -proto motion/v1/motion.proto \
	localhost:$(PORT) motion.v1.MotionService/DescribeComponents
export CALL_PYTHON := $(BIN)/python -c "from motion_grpc import MotionClient; \
	print(MotionClient('localhost:$(PORT)').describe())"
endif

serve: $(STAMP)
	@echo "Call it from another shell (Ctrl-C stops the server):"
	@printf '  %s\n' "$$CALL_GRPCURL" "$$CALL_PYTHON" "$(BIN)/motion-grpc describe --target localhost:$(PORT)"
	@$(BIN)/motion-grpc serve $(APP) --port $(PORT) --log-level $(LOG_LEVEL) $(SERVE_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests --ignore=tests/fault/test_soak.py $(PYTEST_ARGS)

test-fault: $(STAMP)
	MOTION_SOAK_ROUNDS=$${MOTION_SOAK_ROUNDS:-100} $(BIN)/python -m pytest -q tests/fault $(PYTEST_ARGS)

# The property suite at length (make test runs it bounded): MOTION_FUZZ_EXAMPLES per property.
fuzz: $(STAMP)
	MOTION_FUZZ_PROFILE=fuzz MOTION_FUZZ_EXAMPLES=$${MOTION_FUZZ_EXAMPLES:-2000} \
		$(BIN)/python -m pytest -q tests/property -o timeout=0 $(PYTEST_ARGS)

# Mixed load on 1,000 instances for MOTION_SOAK_SECONDS (10 minutes), then a full accounting and the resource curve.
soak: $(STAMP)
	MOTION_SOAK_SECONDS=$${MOTION_SOAK_SECONDS:-600} $(BIN)/python -m pytest -q -s tests/soak $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check motion_grpc

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python -m bench --profile quick

# The seed's four-step e-commerce interaction on its own server, printing each prompt (MOTION_LLM_* picks the model).
ECOMMERCE_ARGS ?=
ecommerce: $(STAMP)
	$(BIN)/python examples/ecommerce/play.py $(ECOMMERCE_ARGS)

# The documentation site (docs/, mkdocs.yml) into site/, warnings as errors; `$(BIN)/mkdocs serve` previews it.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench-full: $(STAMP)
	$(BIN)/python -m bench --profile full

clean:
	rm -rf $(VENV) .motion .pytest_cache .mypy_cache .ruff_cache
