"""The sentences of the retrieved passages that answer the question, the documents' own words.

The answer an employee reads is carried by these sentences, quoted with their markers: a
figure shown is then a figure a passage states. A sentence is chosen by how close it is to
the question (the embedding model), how many of the question's words it shares, how well
its passage ranked, and whether it holds what the question asks for: "how many days" wants
a number, "when" a date or a time. When the passages are on the topic but no sentence holds
that, the documents do not say, and the answer says so instead of offering a near miss.
"""

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import snowballstemmer

from chat import figures
from knowledge.evaluation import normalise
from knowledge.retrieval import ACRONYM, Passage
from knowledge.sentences import sentence_spans

# Calibrated on the demo handbook's and the HR sample's questions (README, "Answers"): below it nothing answers.
EVIDENCE_MIN_SCORE = 0.52
# A question that names what it wants ("how many days", "when") has a sentence's type as more
# evidence; one that does not ("what is the dress code") needs a closer sentence.
EVIDENCE_MIN_SCORE_UNTYPED = 0.55
# A further sentence is added while it scores this close to the best (two rules of one answer).
EVIDENCE_MARGIN = 0.06
EVIDENCE_MAX_SENTENCES = 2
MIN_SENTENCE_CHARS = 12

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# TOIL, KIT, PIP: words embeddings blur, so sharing one with the question counts on its own.
STOPWORDS = set(
    "a an the and or but for of to in on at by with from into onto over under about after before than then "
    "there their they them what when where which who whom why how all any each every some such only also very "
    "more most other our ours out own same just being been be is are was were am do does did doing done has have "
    "had having can could should would will shall may might must it its it's this that these those i me my mine "
    "we us you your yours he she his her as if so not no yes get gets got there's i'm you're per via".split()
)

_TIME_UNITS = {"day", "week", "month", "year", "hour", "minute", "fortnight", "night"}
_MONTHS_OR_DAYS = re.compile(
    r"\b(?:january|february|march|april|may|june|july|august|september|october|november|december|monday|"
    r"tuesday|wednesday|thursday|friday|saturday|sunday|weekly|monthly|annually|yearly|daily|quarterly|"
    r"immediately|midnight|noon|weekend|advance)\b|\d{1,2}(?::\d{2})?\s*(?:am|pm)\b|\b\d{1,2}:\d{2}\b|"
    r"\b\d{1,2}(?:st|nd|rd|th)\b",
    re.IGNORECASE,
)


_A_PERIOD = re.compile(
    r"\b(?:a|one|per|each|every|within\s+a|half\s+a)\s+(?:day|week|fortnight|month|year|hour)\b|\bimmediately\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AnswerType:
    """What the question asks for: a figure (optionally counting `unit`), or a moment in time."""

    kind: str  # "figure" | "time"
    unit: str = ""


_HOW_MANY = re.compile(r"\bhow\s+many\s+(?:[\w-]+\s+){0,2}?([\w-]+)\b", re.IGNORECASE)
_FIGURE_QUESTION = re.compile(
    r"\bhow\s+(?:much|many|big|large|high|long|far|often|soon|quickly)\b|\bwhat\s+(?:percentage|share|fraction|"
    r"proportion|amount)\b|\bwhat\s+(?:is|are|was|were)\s+(?:the|my|our)\s+(?:[\w-]+\s+){0,3}?"
    r"(?:rate|limit|allowance|budget|amount|contribution|bonus|percentage|salary|band|fee|cost|price|number|"
    r"premium|cap|maximum|minimum|threshold|per diem)s?\b",
    re.IGNORECASE,
)
_TIME_QUESTION = re.compile(
    r"^\s*(?:and\s+)?(?:by\s+|until\s+|since\s+)?when\b|\bwhat\s+(?:time|date|day)\b|\bby\s+what\s+(?:time|date)\b|"
    r"\bwhich\s+(?:day|date|month)\b|\bhow\s+(?:soon|far\s+in\s+advance)\b",
    re.IGNORECASE,
)


def answer_type(question: str) -> AnswerType | None:
    """None for questions any on-topic sentence may answer (yes/no, who, where, what is)."""
    if _TIME_QUESTION.search(question):
        return AnswerType("time")
    if _FIGURE_QUESTION.search(question):
        unit = ""
        if match := _HOW_MANY.search(question):
            unit = figures.unit_stem(match.group(1))
        elif re.search(r"\bhow\s+(?:long|quickly|soon|often)\b", question, re.IGNORECASE):
            unit = "time"
        return AnswerType("figure", unit)
    return None


def answers_type(sentence: str, wanted: AnswerType | None) -> bool:
    if wanted is None:
        return True
    found = figures.figures(sentence)
    if wanted.kind == "time":
        return bool(_MONTHS_OR_DAYS.search(sentence) or _A_PERIOD.search(sentence)) or any(
            f.units and f.units[0] in _TIME_UNITS | {"date", "working", "business", "calendar"} for f in found
        )
    if not found:
        return wanted.unit == "time" and bool(_A_PERIOD.search(sentence))
    if wanted.unit == "time":
        return bool(_A_PERIOD.search(sentence)) or any(
            set(f.units[:2]) & (_TIME_UNITS | {"working", "business", "calendar"}) for f in found
        )
    if wanted.unit and wanted.unit not in _GENERIC_UNITS:
        return any(wanted.unit in f.units for f in found) or wanted.unit in _words(sentence)
    return True


# "how many times/people" do not say which word follows the number in the answer.
_GENERIC_UNITS = {"time", "people", "person", "employee", "staff", "of", "do", "does", "can", "are", "is", "will"}


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and (len(w) > 2 or w.isdigit())}


def _words(text: str) -> set[str]:
    return {figures.unit_stem(w) for w in _WORD.findall(text)}


_stemmers = threading.local()


@functools.lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    """Snowball's English stemmer: "approval"/"approves", "carried"/"carry" meet; numbers as digits."""
    if word in figures.NUMBER_WORDS:
        return figures.NUMBER_WORDS[word]
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:  # a stemmer keeps state between calls: one per thread
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


@dataclass(frozen=True)
class Evidence:
    marker: int  # 1-based number of the passage among those given
    start: int  # span in the passage's text
    end: int
    text: str
    score: float
    similarity: float


_BACK_REFERENCE = re.compile(
    r"^(?:it|its|they|their|these|those|this|that|such|there|for\s+example|for\s+instance|in\s+that\s+case|"
    r"otherwise|however|in\s+addition|also)\b",
    re.IGNORECASE,
)
LIST_MAX_CHARS = 400
_BULLET = re.compile(r"(?m)^[ \t]*[-*•][ \t]+")
_THIS_THING = re.compile(r"\b(?:this|these|such)\s+([^\W\d_]+)", re.IGNORECASE)
_CROSS_REFERENCE = re.compile(r"\b(?:see|refer to)\b.{0,60}\b(?:below|above)\b", re.IGNORECASE)


def _leans_on(text: str, previous: str) -> bool:
    """Opens with "It"/"These"/"For example"/…, or speaks of "this manager" that the sentence before names."""
    if _BACK_REFERENCE.match(text.lstrip("-*• ")):
        return True
    before = content_words(previous)
    return any(_stem(m.group(1).lower()) in before for m in _THIS_THING.finditer(text))


@dataclass(frozen=True)
class Candidate:
    marker: int
    start: int  # the quoted span of the passage's text: a sentence, with what it leans on
    end: int
    text: str


def candidate_sentences(passages: list[Passage]) -> list[Candidate]:
    """Every sentence long enough to say something, quoted with what it cannot be read without:
    the sentence before one that opens with "It"/"These"/"This", and the items after one that
    ends in a colon."""
    found = []
    for marker, passage in enumerate(passages, start=1):
        spans = sentence_spans(passage.text)
        for i, (start, end) in enumerate(spans):
            text = passage.text[start:end].strip()
            if len(text) < MIN_SENTENCE_CHARS or text.startswith("#"):
                continue
            if i > 0 and _leans_on(text, passage.text[spans[i - 1][0] : spans[i - 1][1]]):
                start = spans[i - 1][0]
            if text.endswith(":"):  # the list's items, up to the paragraph's end
                for item_start, item_end in spans[i + 1 :]:
                    bulleted = bool(_BULLET.match(passage.text[item_start:item_end]))
                    new_paragraph = "\n\n" in passage.text[end:item_start]
                    if (new_paragraph and not bulleted) or item_end - start > LIST_MAX_CHARS:
                        break
                    end = item_end
            quoted = passage.text[start:end]
            found.append(Candidate(marker, start, end, quoted if "\n" in quoted else _BULLET.sub("", quoted)))
    return found


def _focus_fit(focus: set[str], words: set[str]) -> float:
    """A follow-up is about its own words: "and for part-timers?" wants the part-time rule."""
    share = len(focus & words) / len(focus)
    return 0.3 * share if share else -0.1


_COUNTED_THING = re.compile(r"\bhow\s+(?:many|much)\s+[\w-]+\s+of\s+((?:[\w-]+\s*){1,3})", re.IGNORECASE)


_EXISTENCE = re.compile(
    r"^\s*(?:(?:and|but|so)\s+)?(?:is|are)\s+there\s+(?:an?\s+|any\s+|some\s+)?((?:[\w-]+\s*){1,4})"
    r"|\b(?:do|does)\s+(?:we|the\s+(?:company|organi[sz]ation|employer|firm))\s+(?:have|offer|provide|pay\s+for)\s+"
    r"(?:an?\s+|any\s+)?((?:[\w-]+\s*){1,4})"
    r"|\b(?:is|are)\s+(?:my|our|the|an?)\s+((?:(?!of\b|for\b)[\w-]+\s+){1,3}?)"
    r"(?:covered|paid|reimbursed|included|allowed)(?=\s*(?:[?,.)]|$|\s+(?:by|under|through|in\s+full)\b))",
    re.IGNORECASE,
)


def named_thing(question: str) -> set[str]:
    """What a question asks exists or is covered ("Is there a parking allowance?", "Is my gym
    covered?"): a sentence about another thing of the same kind (the mileage allowance) does not
    answer it, so it must name every word; one that does is about it."""
    match = _EXISTENCE.search(question)
    if not match:
        return set()
    words = []
    for word in (match.group(1) or match.group(2) or match.group(3) or "").split():
        if word.lower() in STOPWORDS:
            break
        words.append(word)
    return content_words(" ".join(words))


def topic_words(question: str) -> set[str]:
    """What a figure question counts: "how many days of sabbatical leave" must be about sabbatical leave.

    The words after "of" up to the first word that is not a content word ("do", "can", "in").
    """
    match = _COUNTED_THING.search(question)
    if not match:
        return set()
    words = []
    for word in match.group(1).split():
        if word.lower() in STOPWORDS:
            break
        words.append(word)
    return content_words(" ".join(words))


def evidence_floor(question: str) -> float:
    return EVIDENCE_MIN_SCORE if answer_type(question) else EVIDENCE_MIN_SCORE_UNTYPED


def rank_evidence(
    question: str,
    passages: list[Passage],
    *,
    encode: Callable[[list[str]], np.ndarray],
    focus: str = "",
    prefer: list[figures.Figure] | None = None,
) -> list[Evidence]:
    """Every sentence that may answer, scored, best first.

    `focus`: the words the asker typed when the question searched was rewritten from a follow-up
    ("and for part-timers?"): a sentence about them is preferred to one about the earlier question.
    `prefer`: figures the asker's own record states ("27 days"): the rule that gives the same figure
    is the one whose condition fits the asker ("after five years … 27 days").
    """
    candidates = candidate_sentences(passages)
    if not candidates:
        return []
    wanted = answer_type(question)
    question_words = content_words(question)
    headings = [content_words(p.heading_path) for p in passages]
    said = [heading | content_words(p.text) for heading, p in zip(headings, passages, strict=True)]
    everywhere = set().union(*said)
    unknown = len(question_words - everywhere) / len(question_words) if question_words else 0.0
    acronyms = {a for a in ACRONYM.findall(question) if sum(a in c.text for c in candidates) <= 2}
    counted = topic_words(question)
    named = named_thing(question)
    amounts = [(a, f.units[:1]) for f in figures.figures(question) if (a := _number(f.value)) is not None]
    focus_words = content_words(focus) - STOPWORDS
    texts = [c.text for c in candidates]
    vectors = encode([question, *[in_context(passages[c.marker - 1], c.text) for c in candidates], *texts])
    after_heading = vectors[1 : len(texts) + 1] @ vectors[0]
    alone = vectors[len(texts) + 1 :] @ vectors[0]
    scored = []
    for candidate, with_heading, by_itself in zip(candidates, after_heading, alone, strict=True):
        if not answers_type(candidate.text, wanted):
            continue
        if not counted <= said[candidate.marker - 1]:
            continue  # "days of sabbatical leave" from a passage that never speaks of sabbaticals
        if not named <= content_words(candidate.text) | headings[candidate.marker - 1]:
            continue  # "is there a parking allowance?" is not answered by the mileage allowance
        passage = passages[candidate.marker - 1]
        own = content_words(candidate.text)
        heading = headings[candidate.marker - 1]
        overlap = (
            (len(question_words & own) + 0.5 * len((question_words - own) & heading)) / len(question_words)
            if question_words
            else 0.0
        )
        informative = min(1.0, len((own | heading) - question_words) / 4)
        defines = overlap >= 0.5 and acronyms and all(re.search(rf"\b{a}\b", candidate.text) for a in acronyms)
        score = (
            _range_fit(amounts, candidate.text, question)
            - (0.2 if _CROSS_REFERENCE.search(candidate.text) else 0.0)
            + 0.35 * float(with_heading)
            + 0.25 * float(by_itself)
            + 0.2 * passage.similarity
            + 0.25 * overlap
            + 0.1 * informative
            + 0.04 / candidate.marker
            - 0.15 * unknown
            + (0.3 if defines else 0.0)
            + (_focus_fit(focus_words, own | heading) if focus_words else 0.0)
            + (PREFERRED_FIGURE if prefer and _states_any(candidate.text, prefer) else 0.0)
            + (NAMED_BONUS if named else 0.0)
        )
        quoted = _with_heading(passage, candidate.text)
        scored.append(
            Evidence(
                candidate.marker, candidate.start, candidate.end, quoted, round(score, 4), round(float(with_heading), 4)
            )
        )
    scored.sort(key=lambda e: -e.score)
    return scored


def find_evidence(
    question: str,
    passages: list[Passage],
    *,
    encode: Callable[[list[str]], np.ndarray],
    focus: str = "",
    prefer: list[figures.Figure] | None = None,
) -> list[Evidence]:
    """The sentences that answer, best first; empty when none does (the documents do not say).

    The best of `rank_evidence`'s sentences when it reaches the floor, and one more as close as
    EVIDENCE_MARGIN to it (two rules of one answer).
    """
    return find_evidence_in(rank_evidence(question, passages, encode=encode, focus=focus, prefer=prefer),
                            evidence_floor(question))  # fmt: skip


def find_evidence_in(scored: list[Evidence], floor: float) -> list[Evidence]:
    """`rank_evidence`'s best when it reaches `floor`, with one more within EVIDENCE_MARGIN of it."""
    if not scored or scored[0].score < floor:
        return []
    best = scored[0]
    chosen = [best]
    for other in scored[1:]:
        if len(chosen) >= EVIDENCE_MAX_SENTENCES:
            break
        if other.score >= best.score - EVIDENCE_MARGIN and not any(same_text(other.text, c.text) for c in chosen):
            chosen.append(other)
    return chosen


_AMOUNT = r"(\d[\d,.]*|" + "|".join(figures.NUMBER_WORDS) + r")"
_UNIT_AFTER = r"((?:\s+[^\W\d_]+){0,2})"
_BETWEEN = re.compile(rf"\bbetween\s+{_AMOUNT}\s+(?:\S+\s+)?and\s+{_AMOUNT}{_UNIT_AFTER}", re.IGNORECASE)
_UPPER = re.compile(
    rf"\b(?:up\s+to|below|under|less\s+than|at\s+most|no\s+more\s+than|within)\s+\S*?{_AMOUNT}{_UNIT_AFTER}",
    re.IGNORECASE,
)
_LOWER = re.compile(
    rf"\b(?:above|over|more\s+than|longer\s+than|at\s+least|exceeding|from|after)\s+\S*?{_AMOUNT}{_UNIT_AFTER}",
    re.IGNORECASE,
)
PREFERRED_FIGURE = 0.3
# "Is my gym covered?": a sentence that names the gym is about it, however short the question's embedding.
NAMED_BONUS = 0.15
SAME_BOUND = 0.1  # "claims up to 500 EUR" asked, "approves claims up to 500 EUR" states that very range


def _states_any(sentence: str, wanted: list[figures.Figure]) -> bool:
    return any(figures.figure_supported(f, wanted) for f in figures.figures(sentence))


def _bounds(text: str) -> list[tuple[float | None, float | None, set[str]]]:
    """(low, high, the words after the figure) of each range a text states."""

    def words(after: str) -> set[str]:
        return {figures.unit_stem(w) for w in after.split()}

    found = [(_number(low), _number(high), words(after)) for low, high, after in _BETWEEN.findall(text)]
    found += [(None, _number(m), words(after)) for m, after in _UPPER.findall(text)]
    found += [(_number(m), None, words(after)) for m, after in _LOWER.findall(text)]
    return [b for b in found if b[0] is not None or b[1] is not None]


def _range_fit(asked: list[tuple[float, tuple[str, ...]]], sentence: str, question: str = "") -> float:
    """A question that names an amount (`asked`: "an expense of 1,500 EUR", "six years") is answered
    by the rule whose range holds it ("between 500 and 2,000 EUR", "after five years"), not by the one
    that starts above it. A bound counts only for an amount of the same unit, when both name one;
    the very range the question states ("up to 500 EUR") counts a little more."""
    if not asked:
        return 0.0
    bounds = _bounds(sentence)
    fits = []
    for low, high, unit in bounds:
        same = [a for a, units in asked if not unit or not units or units[0] in unit]
        if same:
            fits.append(all((low is None or a >= low) and (high is None or a <= high) for a in same))
    if not fits:
        return 0.0
    own = {(low, high) for low, high, _ in _bounds(question)}
    exact = SAME_BOUND if own & {(low, high) for low, high, _ in bounds} else 0.0
    return (0.15 if any(fits) else -0.15) + exact


def _number(text: str) -> float | None:
    text = figures.NUMBER_WORDS.get(text.lower(), text)
    try:
        return float(text.replace(",", "").rstrip(".,"))
    except ValueError:
        return None


def same_text(a: str, b: str) -> bool:
    """One text inside the other, once spacing and quotes are set aside (the same rule in two formats)."""
    a, b = normalise(a), normalise(b)
    return a in b or b in a


SHORT_SENTENCE_CHARS = 50


def innermost_heading(passage: Passage) -> str:
    """The heading right above the passage, which often names what it is about ("Compassionate leave").

    As stored, spacing included: the sentences' embeddings are calibrated with it."""
    return passage.heading_path.split(" > ")[-1] if passage.heading_path else ""


def _with_heading(passage: Passage, text: str) -> str:
    """A short sentence that does not name its subject ("For team chat.") is shown after its heading."""
    heading = innermost_heading(passage).strip()
    if not heading or len(text) >= SHORT_SENTENCE_CHARS or content_words(heading) <= content_words(text):
        return text
    if re.match(r"^[^:\n]{2,60}:\s", text):  # "Annual leave remaining: 2 days" names its subject
        return text
    return f"{heading}: {text}"


def in_context(passage: Passage, sentence: str) -> str:
    """A sentence as it is embedded for choosing answers: after its passage's innermost heading."""
    heading = innermost_heading(passage)
    return f"{heading}: {sentence}" if heading else sentence
