"""Reading what a rendered page hands its script."""

import html
import json
import re


def citations_on(page: str) -> list[list[dict]]:
    """The citation cards of each stored answer, as the page's script receives them (data-citations)."""
    return [json.loads(html.unescape(raw)) for raw in re.findall(r'data-citations="([^"]*)"', page)]
