"""Does the passage a sentence cites really say what the sentence says?

Embedding similarity catches paraphrase but not a changed figure ("25 days" and "30 days"
embed almost alike), so numbers are checked word for word and content-word overlap backs
up similarity for names. The verdicts are stored with the message and shown in the page:
a reader sees which sentences no cited passage supports.
"""

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from chat.citations import MARKER
from knowledge.retrieval import Passage
from knowledge.sentences import sentence_spans

SUPPORT_SIMILARITY = 0.5  # on its own: a close paraphrase
SUPPORT_SIMILARITY_WITH_OVERLAP = 0.3  # together with most content words present
SUPPORT_OVERLAP = 0.5

SUPPORTED, UNSUPPORTED, UNCITED = "supported", "unsupported", "uncited"

_WORD = re.compile(r"[^\W_]+(?:[.,:][0-9]+)*%?", re.UNICODE)
_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "half": "50%"}
_STOPWORDS = set(
    "the and for are but not you your yours with that this these those from have has had was were will would "
    "can could should may might must shall its it's into onto over under about after before than then there "
    "their they them what when where which who whom why how all any each every some such only also very more "
    "most other our ours out own same just being been does did doing done per via upon i'm you're".split()
)


@dataclass(frozen=True)
class SentenceCheck:
    start: int
    end: int
    markers: list[int]
    verdict: str
    similarity: float
    unsupported_numbers: list[str]


@dataclass(frozen=True)
class SupportReport:
    sentences: list[SentenceCheck]
    highlights: dict[int, list[tuple[int, int]]]  # marker -> spans of supporting words in its passage

    def as_json(self) -> list[dict]:
        return [asdict(s) for s in self.sentences]

    @property
    def unsupported(self) -> int:
        return sum(s.verdict != SUPPORTED for s in self.sentences)


def check_support(text: str, cited: dict[int, Passage], *, encode: Callable[[list[str]], np.ndarray]) -> SupportReport:
    """Check every sentence that says something: two content words, or a number."""
    sentences = []  # (start, end, text without markers, its terms)
    for start, end in sentence_spans(text):
        plain = MARKER.sub(" ", text[start:end]).strip()
        terms = _terms(plain)
        if _says_something(terms):
            sentences.append((start, end, plain, terms))
    if not sentences or not cited:
        return SupportReport([], {})
    order = list(cited)
    vectors = encode([plain for _, _, plain, _ in sentences] + [cited[m].text for m in order])
    passage_vectors = dict(zip(order, vectors[len(sentences) :], strict=True))
    passage_terms = {m: _terms(cited[m].text) for m in order}
    checks: list[SentenceCheck] = []
    supporting_terms: dict[int, set[str]] = {m: set() for m in order}
    for (start, end, _, terms), vector in zip(sentences, vectors[: len(sentences)], strict=True):
        sentence_markers = [int(n) for n in re.findall(r"\[(\d+)\]", text[start:end]) if int(n) in cited]
        if not sentence_markers:
            checks.append(SentenceCheck(start, end, [], UNCITED, 0.0, []))
            continue
        similarity = max(float(vector @ passage_vectors[m]) for m in sentence_markers)
        available = set().union(*(passage_terms[m] for m in sentence_markers))
        numbers = sorted(t for t in terms if _is_number(t) and t not in available)
        words = [t for t in terms if not _is_number(t)]
        overlap = sum(w in available for w in words) / len(words) if words else 1.0
        close = similarity >= SUPPORT_SIMILARITY or (
            similarity >= SUPPORT_SIMILARITY_WITH_OVERLAP and overlap >= SUPPORT_OVERLAP
        )
        verdict = SUPPORTED if close and not numbers else UNSUPPORTED
        checks.append(SentenceCheck(start, end, sentence_markers, verdict, round(similarity, 3), numbers))
        if verdict == SUPPORTED:
            for m in sentence_markers:
                supporting_terms[m] |= terms & passage_terms[m]
    highlights = {m: _spans_of(cited[m].text, supporting_terms[m]) for m in order}
    return SupportReport(checks, highlights)


def _says_something(terms: set[str]) -> bool:
    return len(terms) >= 2 or any(_is_number(t) for t in terms)


def _normal(word: str) -> str:
    word = _NUMBER_WORDS.get(word.lower(), word.lower())
    if _is_number(word):
        return word.replace(",", "")
    return word[:6]  # a crude stem: "employee"/"employees", "carry"/"carried" stay apart, which is fine


def _is_number(term: str) -> bool:
    return term[:1].isdigit()


def _terms(text: str) -> set[str]:
    found = set()
    for match in _WORD.finditer(text):
        word = match.group()
        if _is_number(word) or word.lower() in _NUMBER_WORDS or (len(word) > 2 and word.lower() not in _STOPWORDS):
            found.add(_normal(word))
    return found


def _spans_of(text: str, terms: set[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(text):
        if _normal(match.group()) not in terms:
            continue
        start, end = match.span()
        if spans and start - spans[-1][1] <= 1:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
