"""Front matter (YAML between `---`, TOML between `+++`) read as metadata with python-frontmatter.

Static-site handbooks (Jekyll, Hugo, MkDocs) open every page with it: it names the page and
when it was reviewed, and is never text a person should be quoted. Its `title` becomes the
document's title; keys that say when a version comes into force are offered to the versions
feature; the rest is kept on the document as it was written.
"""

import datetime
import logging
import re
import tomllib

import frontmatter
from frontmatter.default_handlers import BaseHandler, YAMLHandler

logger = logging.getLogger(__name__)

MAX_FRONT_MATTER_CHARS = 64_000
MAX_VALUES = 2_000  # YAML aliases can make a small file a huge tree: stop copying after this many values
# Keys that state when a version is in force. `date`, `last_reviewed` and `updated` say when a page was
# written or checked, which is not when its rules apply: they are kept, not offered.
EFFECTIVE_FROM_KEYS = ("effective", "effective_from", "effective_date", "in_force_from", "valid_from")
EFFECTIVE_UNTIL_KEYS = ("effective_until", "expires", "expiry_date", "valid_until", "in_force_until")
_KEY_LINE = re.compile(r"^[ \t]*[\w-]+[ \t]*[:=]")


class _TOMLHandler(BaseHandler):
    """Hugo's `+++` front matter with the standard library's TOML reader."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs) -> dict:
        return tomllib.loads(fm)

    def export(self, metadata, **kwargs) -> str:  # pragma: no cover - never written back
        raise NotImplementedError


_HANDLERS = [YAMLHandler(), _TOMLHandler()]


def split_front_matter(text: str) -> tuple[dict, str]:
    """(metadata, the text after it). A file without front matter comes back whole.

    A block that does not parse is still dropped when its first line is a `key:` line (a
    broken header is not a passage either); one that is not a mapping is left as text.
    """
    handler = frontmatter.detect_format(text[:MAX_FRONT_MATTER_CHARS], _HANDLERS)
    if handler is None:
        return {}, text
    try:
        raw, content = handler.split(text)
    except ValueError:  # an opening delimiter with no closing one: a thematic break, not front matter
        return {}, text
    if len(raw) > MAX_FRONT_MATTER_CHARS:
        return {}, text
    try:
        loaded = handler.load(raw)
    except Exception as exc:  # noqa: BLE001 - YAML and TOML readers raise their own error types
        logger.info("Front matter not read: %r", exc)
        first = next((line for line in raw.splitlines() if line.strip()), "")
        return ({}, content) if _KEY_LINE.match(first) else ({}, text)
    if not isinstance(loaded, dict):
        return {}, text
    return _plain(loaded, [MAX_VALUES]), content


def _plain(value, budget: list[int]):
    """JSON-safe copy (dates as ISO text), at most MAX_VALUES values however the YAML aliases nest."""
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v, budget) for k, v in value.items() if budget[0] >= 0}
    if isinstance(value, list | tuple):
        return [_plain(v, budget) for v in value if budget[0] >= 0]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def title_of(metadata: dict) -> str:
    title = metadata.get("title")
    return " ".join(title.split())[:300] if isinstance(title, str) else ""


def effective_dates(metadata: dict) -> tuple[datetime.date | None, datetime.date | None]:
    """What the front matter says of when the version is in force, as (from, until)."""
    return _first_date(metadata, EFFECTIVE_FROM_KEYS), _first_date(metadata, EFFECTIVE_UNTIL_KEYS)


def _first_date(metadata: dict, keys: tuple[str, ...]) -> datetime.date | None:
    lowered = {k.lower(): v for k, v in metadata.items()}
    for key in keys:
        value = lowered.get(key)
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None
