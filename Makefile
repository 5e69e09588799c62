.PHONY: run test test-slow lint install manage

install:
	@scripts/install.sh

run: install
	.venv/bin/python -m ragsite.run

test: install
	@scripts/install-browser.sh
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

# The suite on one core, about half this machine's speed: finds tests that depend on how fast it is.
test-slow: install
	@scripts/install-browser.sh
	taskset -c 0 .venv/bin/python -m pytest --durations=10

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# Any management command against the embedded servers, e.g. make manage ARGS="evaluate_retrieval demo/eval/handbook-questions.jsonl"
manage: install
	.venv/bin/python -m ragsite.run manage $(ARGS)
