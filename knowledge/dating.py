"""Dates in text: the period a question asks about, and the dates a policy says it is in force.

Rules, not the language model: they run before retrieval, add no latency, and a test can
state exactly what they recognise. A question names a period with a full date ("on 3 March
2027"), a month ("in March 2025"), a year ("in 2024"), a relative year or month ("last
year", "next month"), or "before"/"after" one of those. A date that belongs to the
person rather than to the rules ("I joined in 2019"), or that something moves into ("carry
days into next year"), does not move the question in time.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from knowledge.sentences import sentences

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_FORMS = [
    ("day", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b"),
    ("day", rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b"),
    ("day", r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
    ("month", rf"\b{_MONTH},?\s+{_YEAR}\b"),
    ("year", rf"(?<![\d,.€$£]){_YEAR}(?!\d|[,.]\d|\s*(?:%|(?:eur|euros?|usd|gbp)\b|€|\$|£))"),
]
_RELATIVE = re.compile(r"\b(?P<which>last|previous|this|current|next|coming)\s+(?P<unit>year|month)\b", re.IGNORECASE)
_PERSONAL = re.compile(
    r"\b(?:joined|join|started|start|hired|born|employed|contract|anniversary|birthday)\b\W+(?:\w+\W+){0,3}$",
    re.IGNORECASE,
)
_BEFORE = re.compile(r"\b(?:before|until|till|prior to|up to)\s+(?:the\s+)?(?:end\s+of\s+)?$", re.IGNORECASE)
_AFTER = re.compile(r"\b(?:after)\s+$", re.IGNORECASE)
# "carry days into next year" moves something across a boundary under today's rules
_INTO = re.compile(r"\b(?:into|over to)\s+(?:the\s+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """Inclusive; a question with no date asks about `today` alone."""

    start: date
    end: date

    @classmethod
    def day(cls, when: date) -> "Period":
        return cls(when, when)


@dataclass(frozen=True)
class _Mention:
    start_index: int
    end_index: int
    period: Period


def _period_of(kind: str, match: re.Match) -> Period | None:
    year = int(match["year"])
    try:
        if kind == "year":
            return Period(date(year, 1, 1), date(year, 12, 31))
        month = _MONTHS.get(match["month"].lower()) if not match["month"].isdigit() else int(match["month"])
        if month is None:
            return None
        if kind == "month":
            return Period(date(year, month, 1), _month_end(year, month))
        return Period.day(date(year, month, int(match["day"])))
    except ValueError:  # 31 February, month 13
        return None


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def _relative(match: re.Match, today: date) -> Period:
    step = {"last": -1, "previous": -1, "this": 0, "current": 0, "next": 1, "coming": 1}[match["which"].lower()]
    if match["unit"].lower() == "year":
        year = today.year + step
        return Period.day(today) if step == 0 else Period(date(year, 1, 1), date(year, 12, 31))
    if step == 0:
        return Period.day(today)
    month_index = today.year * 12 + today.month - 1 + step
    year, month = divmod(month_index, 12)
    return Period(date(year, month + 1, 1), _month_end(year, month + 1))


def _mentions(text: str, today: date | None) -> list[_Mention]:
    found: list[_Mention] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _FORMS:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue  # "1 March 2025" is not also "March 2025" and "2025"
            period = _period_of(kind, match)
            if period is not None:
                taken.append((match.start(), match.end()))
                found.append(_Mention(match.start(), match.end(), period))
    if today is not None:
        for match in _RELATIVE.finditer(text):
            found.append(_Mention(match.start(), match.end(), _relative(match, today)))
    return sorted(found, key=lambda m: m.start_index)


def question_period(question: str, today: date) -> Period:
    """The period a question asks about: today, unless it names another time for the rules."""
    periods = []
    for mention in _mentions(question, today):
        before = question[: mention.start_index]
        if _PERSONAL.search(before) or _INTO.search(before):
            continue
        period = mention.period
        if _BEFORE.search(before):
            period = Period.day(period.start - timedelta(days=1))
        elif _AFTER.search(before):
            period = Period.day(period.end + timedelta(days=1))
        periods.append(period)
    if not periods:
        return Period.day(today)
    return Period(min(p.start for p in periods), max(p.end for p in periods))


_EFFECTIVE = re.compile(
    r"\b(?:effective|in force|in effect|applies|apply|applied|valid|takes effect|with effect|comes into force)\b",
    re.IGNORECASE,
)
_UNTIL = re.compile(r"\b(?:until|till|to|through|ending on|expires on|up to and including)\s+$", re.IGNORECASE)


def effective_dates(text: str) -> tuple[date | None, date | None]:
    """The first sentence that says when the document is in force: (from, until), either may be None.

    Only full dates count ("1 January 2026", "2026-01-01"): a bare year in a policy is
    usually about something else.
    """
    for body in sentences(text):
        if not _EFFECTIVE.search(body):
            continue
        days = [m for m in _mentions(body, None) if m.period.start == m.period.end]
        if not days:
            continue
        starts, ends = [], []
        for mention in days:
            (ends if _UNTIL.search(body[: mention.start_index]) else starts).append(mention.period.start)
        return (starts[0] if starts else None, ends[0] if ends else None)
    return None, None


def format_day(day: date) -> str:
    return f"{day.day} {day:%B} {day.year}"
