.PHONY: run test lint install bench

install:
	@scripts/install.sh

run: install
	.venv/bin/python -m ragsite.run

test: install
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
