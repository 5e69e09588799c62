"""A throw-away embedded PostgreSQL with the project's schema, for benchmarks."""

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def scratch_django() -> Iterator[Path]:
    """Django set up against a fresh, migrated database that is deleted afterwards."""
    from ragsite.embedded import sigterm_as_exit, start_postgres

    scratch = Path(tempfile.mkdtemp(prefix="ragsite-bench-"))
    postgres = start_postgres(scratch / "pgdata")
    with sigterm_as_exit(), contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        cleanup.callback(postgres.stop)
        postgres.ensure_database("bench")
        os.environ.update(
            DATABASE_URL=postgres.url("bench"),
            SECRET_KEY="bench",  # noqa: S106 - a throw-away database
            MEDIA_ROOT=str(scratch / "media"),
            CELERY_TASK_ALWAYS_EAGER="1",
            DJANGO_SETTINGS_MODULE="ragsite.settings",
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield scratch
