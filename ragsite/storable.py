"""Text PostgreSQL cannot store, caught at the edges so it gets a sentence instead of a 500.

A UTF-8 database refuses the NUL character in text, and no UTF-8 encoding exists for a lone
surrogate (JSON's "\\ud800" decodes to one). Anything else Python holds as a str can be stored.
"""

import re

_REFUSED = re.compile("[\x00\ud800-\udfff]")


def unstorable_reason(text: str) -> str:
    """'' when the text can be stored; otherwise why not, in words for the person who sent it."""
    found = _REFUSED.search(text)
    if found is None:
        return ""
    if found.group() == "\x00":
        return "The text contains a NUL character (\\0), which cannot be stored; remove it."
    return "The text contains an invalid character (a lone UTF-16 surrogate); remove it."
