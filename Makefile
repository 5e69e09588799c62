.PHONY: run test lint install manage

install:
	@scripts/install.sh

run: install
	.venv/bin/python -m ragsite.run

test: install
	@scripts/install-browser.sh
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# Any management command against the embedded servers, e.g. make manage ARGS="evaluate_retrieval demo/eval/handbook-questions.jsonl"
manage: install
	.venv/bin/python -m ragsite.run manage $(ARGS)
