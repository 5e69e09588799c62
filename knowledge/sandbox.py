"""A throw-away knowledge base for evaluations: a fresh, migrated database and media folder.

Evaluations ingest their own corpus; they must never touch, or be skewed by, the real one.
"""

import contextlib
import tempfile
from collections.abc import Iterator

from django.conf import settings
from django.db import connection


@contextlib.contextmanager
def throwaway_knowledge_base(suffix: str = "eval") -> Iterator[None]:
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"{old_name}_{suffix}"
    with tempfile.TemporaryDirectory(prefix="ragsite-eval-") as media:
        saved_media = settings.MEDIA_ROOT
        settings.MEDIA_ROOT = media
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        try:
            yield
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
            settings.MEDIA_ROOT = saved_media
