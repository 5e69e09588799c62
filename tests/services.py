"""Pytest plugin: a real embedded PostgreSQL+pgvector and Redis for the whole session.

Loaded with `-p tests.services` (see pyproject.toml) so the URLs are in the environment
before pytest-django imports the settings.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ragsite.embedded import start_postgres, start_redis

DATABASE_NAME = "ragsite"
_state: dict = {}


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    root = Path(tempfile.mkdtemp(prefix="ragsite-tests-"))
    postgres = start_postgres(root / "pgdata")
    redis = start_redis(root / "redis")
    _state.update(root=root, postgres=postgres, redis=redis)
    os.environ["DATABASE_URL"] = postgres.url(DATABASE_NAME)
    os.environ["REDIS_URL"] = redis.url
    os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["VAR_DIR"] = str(root / "var")
    os.environ["MEDIA_ROOT"] = str(root / "media")
    for name in ("LLM_BASE_URL", "LLM_MODEL", "LLM_API_KEY"):
        os.environ.pop(name, None)


def pytest_unconfigure(config) -> None:
    if "redis" in _state:
        _state["redis"].stop()
        _state["postgres"].stop()
        shutil.rmtree(_state["root"], ignore_errors=True)


def database_url_for(database_name: str) -> str:
    return _state["postgres"].url(database_name)
