"""Figures in text: a number with the words that say what it counts ("25 days", "1,000 EUR", "31 March").

One reader of figures for everything that must not get one wrong: the support check and the
gate before a sentence is shown, the choice of the sentences that answer, and the evaluation's
`wrong_figures`. A figure is its value (digits as written, thousands separators dropped,
number words as digits) and the few words after it, so "3 days" and "3 full-time employees"
are different figures with the same value.
"""

import re
from dataclasses import dataclass

NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "hundred": "100", "twice": "2", "once": "1"}

# A number as written (12, 1,000, 0.30, 12.5, 10:00, 25/12, 15th), or a number word.
_NUMBER = re.compile(
    r"(?<![\w.,/])(\d+(?:[.,:/]\d+)*)(?:st|nd|rd|th)?(?![\w])|\b(" + "|".join(NUMBER_WORDS) + r")\b",
    re.IGNORECASE,
)
_UNIT_WORD = re.compile(r"%|[^\W\d_]+", re.UNICODE)
UNIT_WORDS_AFTER = 3  # the words after a number that may say what it counts ("20 working days")
_SKIPPED = {"of", "a", "an", "the", "per", "and", "or", "to", "in", "on"}
_CURRENCY = {"$": "usd", "€": "eur", "£": "gbp"}


@dataclass(frozen=True)
class Figure:
    value: str
    units: tuple[str, ...]  # normalised words right after the number (and a currency sign before it)
    start: int
    end: int


_PERIODIC = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year"}


def unit_stem(word: str) -> str:
    word = word.lower().replace("’", "'").removesuffix("'s").removesuffix("'")
    if word in {"euro", "euros"}:
        return "eur"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


_MONTHS = "january february march april may june july august september october november december".split()
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TEXT_DATE = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"
    r"|\b(" + "|".join(_MONTHS) + r")\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.;!?)\]](?:\s|$)|\n")


def _dates(text: str) -> list[Figure]:
    """Whole dates as one figure, so "2026-11-01" and "1 November 2026" are the same value."""
    found = [Figure(f"{m[1]}-{m[2]}-{m[3]}", ("date",), m.start(), m.end()) for m in _ISO_DATE.finditer(text)]
    for m in _TEXT_DATE.finditer(text):
        day, month, year = (m[1], m[2], m[3]) if m[1] else (m[5], m[4], m[6])
        iso = f"{year}-{_MONTHS.index(month.lower()) + 1:02d}-{int(day):02d}"
        found.append(Figure(iso, ("date",), m.start(), m.end()))
    return found


def figures(text: str) -> list[Figure]:
    found = _dates(text)
    taken = [(f.start, f.end) for f in found]
    for match in _NUMBER.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        digits, word = match.group(1), match.group(2)
        if digits is None and word.lower() == "once" and not _looks_counted(text, match.end()):
            continue  # "once a year" counts; "once approved" does not
        value = digits.replace(",", "") if digits else NUMBER_WORDS[word.lower()]
        if re.fullmatch(r"\d+\.\d+", value):
            value = value.rstrip("0").rstrip(".")
        units = []
        if text[max(0, match.start() - 1) : match.start()] in _CURRENCY:
            units.append(_CURRENCY[text[match.start() - 1]])
        tail = text[match.end() : match.end() + 60]
        if clause_end := _CLAUSE_END.search(tail):
            tail = tail[: clause_end.start()]
        for unit in _UNIT_WORD.finditer(tail):
            stem = _PERIODIC.get(unit.group().lower()) or unit_stem(unit.group())  # "twice monthly" = "a month"
            if stem in _SKIPPED:
                continue
            units.append(stem)
            if len(units) >= UNIT_WORDS_AFTER:
                break
        found.append(Figure(value, tuple(units), match.start(), match.end()))
    return sorted(found, key=lambda f: f.start)


def _looks_counted(text: str, end: int) -> bool:
    return bool(re.match(r"\s+(?:a|an|every|per|each)\b", text[end:]))


def values(text: str) -> set[str]:
    return {f.value for f in figures(text)}


def figure_supported(figure: Figure, candidates: list[Figure]) -> bool:
    """The same value, and the first word saying what it counts among the candidate's words.

    "20 days" is supported by "20 working days"; "3 full-time employees" is not by "three days".
    """
    for other in candidates:
        if other.value != figure.value:
            continue
        if not figure.units or figure.units[0] in other.units:
            return True
    return False


def has_figure(text: str) -> bool:
    return bool(_NUMBER.search(text))
