# Two commands for a newcomer (see README):
#   make demo   set up, assemble the offline models, ingest data/sample, answer a sample question,
#               then start the chat page on http://127.0.0.1:7860
#   make test   set up, assemble the offline models, run the whole test suite (real models included)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
INDEX  ?= .newsqa/index
AS_OF  ?= 2025-11-05
QUESTION ?= When did Trump say he would visit China, and what did Beijing agree to suspend?

.PHONY: setup models browser demo ask serve test unit clean

$(BIN)/newsqa: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(BIN)/newsqa

models: setup
	$(BIN)/newsqa models pull

demo: models
	$(BIN)/newsqa ingest data/sample --index $(INDEX)
	$(BIN)/newsqa ask "$(QUESTION)" --index $(INDEX) --as-of $(AS_OF)
	$(BIN)/newsqa serve --index $(INDEX)

ask: setup
	$(BIN)/newsqa ask "$(QUESTION)" --index $(INDEX) --as-of $(AS_OF)

# The browser test drives Debian's chromium (root installs it; others are told what to run).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "install chromium (apt-get install chromium) for the browser test"

serve: models
	$(BIN)/newsqa ingest data/sample --index $(INDEX)
	$(BIN)/newsqa serve --index $(INDEX)

test: models browser
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest -m "not real_models"

clean:
	rm -rf $(VENV) .newsqa .pytest_cache
