# `make run` and `make test` work on a fresh clone: they create .venv and install first.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-ts docs bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python 3.11, 3.12 or 3.13 on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python main.py serve

# The TypeScript client's tests first (npm ci && npm test in its folder, against a real
# gateway run by this .venv), then the Python suite, whose summary closes the output.
test: test-ts
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-ts: $(STAMP)
	cd clients/typescript && npm ci --no-audit --no-fund && MG_PYTHON=$(abspath $(VENV))/bin/python npm test

# Regenerate docs/API.md, docs/openrpc.json and the clients' types from the method table.
docs: $(STAMP)
	$(VENV)/bin/python main.py docs

bench: $(STAMP)
	$(VENV)/bin/python bench/gateway_ping.py

clean:
	rm -rf $(VENV) data .pytest_cache clients/typescript/node_modules clients/typescript/dist
