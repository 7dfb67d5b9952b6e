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

SERVERS_VENV ?= .venv-servers

.PHONY: setup models browser servers demo ask serve test unit clean

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

# The model-server tests start Infinity (an OpenAI-compatible embedding server) from its own environment: it pins
# older sentence-transformers and transformers than newsqa's.
$(SERVERS_VENV)/bin/infinity_emb:
	$(PYTHON) -m venv $(SERVERS_VENV)
	$(SERVERS_VENV)/bin/pip install --quiet --disable-pip-version-check "infinity-emb[server,torch]==0.0.78" "torch==2.13.0"

servers: $(SERVERS_VENV)/bin/infinity_emb

serve: models
	$(BIN)/newsqa ingest data/sample --index $(INDEX)
	$(BIN)/newsqa serve --index $(INDEX)

test: models browser servers
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest -m "not real_models"

clean:
	rm -rf $(VENV) $(SERVERS_VENV) .newsqa .pytest_cache
