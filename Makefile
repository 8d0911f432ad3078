# The two set-up commands a newcomer runs on a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,local,serving,bench,ray,train

.PHONY: setup system demo test lint clean

$(VENV)/.installed-$(EXTRAS): pyproject.toml setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

system:
	bash scripts/ensure-system.sh

setup: $(VENV)/.installed-$(EXTRAS) system

# The shipped default model on five MiniWoB tasks it has never seen these seeds of; report in runs/demo/.
DEMO_TASKS := --tasks click-test --tasks focus-text --tasks click-dialog --tasks click-test-2 --tasks click-button
demo: setup
	rm -rf runs/demo
	$(BIN)/pixelpilot bench miniwob --model default $(DEMO_TASKS) --seeds 3 --seed-start 900000 --scale 1 \
		--max-steps 4 --workers 1 --out runs/demo

test: setup
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
