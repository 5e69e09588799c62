"""A throw-away knowledge base for evaluations: a fresh, migrated database and media folder.

Evaluations ingest their own corpus; they must never touch, or be skewed by, the real one.
Each run has its own database (`<name>_<suffix>_<pid>`), removed when the run ends however it
ends: normally, on an error, on Ctrl-C or on SIGTERM. One left by a run that was killed outright
(SIGKILL) is dropped by the next run, once its process is gone; nothing ever asks a question.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator

import psutil
from django.conf import settings
from django.db import connection

from ragsite.embedded import sigterm_as_exit


@contextlib.contextmanager
def throwaway_knowledge_base(suffix: str = "eval") -> Iterator[None]:
    old_name = connection.settings_dict["NAME"]
    prefix = f"{old_name}_{suffix}_"
    name = f"{prefix}{os.getpid()}"
    drop_stale_databases(prefix)
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    saved_media = settings.MEDIA_ROOT
    with tempfile.TemporaryDirectory(prefix="ragsite-eval-") as media, sigterm_as_exit():
        settings.MEDIA_ROOT = media
        try:
            connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
            yield
        finally:
            connection.close()
            connection.settings_dict["NAME"] = old_name
            settings.DATABASES[connection.alias]["NAME"] = old_name
            settings.MEDIA_ROOT = saved_media
            _drop(name)


def drop_stale_databases(prefix: str) -> list[str]:
    """Drops `<prefix><pid>` databases whose process no longer runs; returns their names."""
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix])
        names = [row[0] for row in cursor.fetchall()]
    stale = [n for n in names if n[len(prefix) :].isdigit() and not psutil.pid_exists(int(n[len(prefix) :]))]
    for name in stale:
        _drop(name)
    return stale


def _drop(name: str) -> None:
    """WITH (FORCE): a connection a killed run left open must not keep its database alive."""
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")
