"""Does a passage a sentence cites really say what the sentence says?

A sentence is held against the one sentence of its cited passages that says most nearly the
same (its anchor), not against the passage's bag of words: "You have 27 days left" must not
pass because "27 days" appears somewhere in a policy. It is supported when

- every figure it states is stated in a cited passage with the same value and the same first
  word after it ("25 days" is not "25 weeks"; "3 full-time employees" is not "three days"),
- the anchor holding its figures shares most of its content words, and no qualifier that
  turns a rule around differs ("part-time" for "full-time", "not", "unpaid", "never"),
- and the anchor is close in meaning (embedding similarity).

Verdicts are stored with the message and shown in the page; the same judgement gates a
generated sentence before it is shown (`chat.gate`). Its precision and recall are measured
on `demo/eval/support-pairs.jsonl` by `manage.py evaluate_support`.
"""

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from chat import figures
from chat.citations import MARKER
from chat.extraction import STOPWORDS, content_words, innermost_heading
from knowledge.retrieval import Passage
from knowledge.sentences import sentence_spans

# Calibrated on demo/eval/support-pairs.jsonl (see `evaluate_support`).
SUPPORT_SIMILARITY = 0.75  # close paraphrase of one anchor sentence
SUPPORT_SIMILARITY_WITH_OVERLAP = 0.35  # together with most content words in the anchor
SUPPORT_OVERLAP = 0.75
# Tuned on the tune split of demo/eval/support-pairs-hr-sample.jsonl with support-pairs.jsonl (README, "Answers").
SUPPORT_OVERLAP_PARAPHRASE = 0.6  # a close paraphrase stating a figure, in other words ("pays 80% of the premium")

SUPPORTED, UNSUPPORTED, UNCITED = "supported", "unsupported", "uncited"

# Words that turn a rule around: one side says one, the other only its opposite.
_OPPOSITES = [
    ({"full"}, {"part"}),
    ({"paid"}, {"unpaid"}),
    ({"before", "earlier", "prior"}, {"after", "later"}),
    (
        {"more", "over", "above", "longer", "minimum", "least", "exceeding"},
        {"less", "fewer", "under", "below", "shorter", "maximum", "most", "up"},
    ),
    ({"include", "including", "included"}, {"exclude", "excluding", "excluded"}),
    ({"allowed", "permitted", "may", "can"}, {"forbidden", "prohibited"}),
    ({"approved", "accepted"}, {"declined", "rejected", "refused"}),
    ({"required", "mandatory", "must"}, {"optional"}),
    ({"increase", "rise", "rises", "raised"}, {"decrease", "fall", "falls", "reduced", "deducted"}),
]
# Absolutes a paraphrase does not add: a sentence that says "always" where the rule does not is another rule.
_ABSOLUTES = {"always", "never", "all", "every", "only", "any", "none", "automatically", "default"}
# Words that name the same thing in records and answers.
_SAME = {"left": "remaining", "remain": "remaining", "used": "taken"}
# Words of which a rule names one: two different ones are two different rules.
_ONE_OF = [
    {"first", "economy", "business", "premium", "standard"},
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
    {
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "yearly",
        "annually",
        "annual",
        "month",
        "quarter",
        "year",
        "week",
        "day",
        "night",
    },  # fmt: skip
    {"employee", "manager", "director", "hr", "finance", "board", "supervisor", "head"},
    {"entitlement", "taken", "remaining", "carried", "accrued"},
    {"remote", "hybrid", "office"},
]
_NEGATIONS = {
    "not",
    "never",
    "no",
    "don't",
    "doesn't",
    "cannot",
    "can't",
    "won't",
    "isn't",
    "aren't",
    "nobody",
    "nothing",
}
_WORD = re.compile(r"[^\W_]+(?:['’][a-z]+)?", re.UNICODE)


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


@dataclass(frozen=True)
class Judgement:
    supported: bool
    similarity: float
    unsupported_figures: list[str]
    anchor: tuple[int, int, int] | None  # (marker, start, end) of the passage sentence it was held against
    reason: str = ""  # why not: a figure no passage states, not close, a qualifier, another name, stitched


# Words that frame an answer without claiming anything ("Here is what the handbook says:").
_FRAME = content_words("here found find following sure answer according handbook document documents policy source say")


def says_something(sentence: str) -> bool:
    """Two content words, or a figure: "Sure!" and "Here is what I found." are not checked."""
    return figures.has_figure(sentence) or len(content_words(sentence) - _FRAME) >= 2


def judge(sentence: str, cited: dict[int, Passage], *, encode: Callable[[list[str]], np.ndarray]) -> Judgement:
    """`sentence` without its markers; `cited` the passages its markers name."""
    if (dated := _AS_OF.search(sentence)) and _states_dates(dated.group(1), cited):
        # "Annual leave taken: 12 days, as of 1 November 2026": the line, and the date the same passage states
        return judge(sentence[: dated.start()], cited, encode=encode)
    units = [
        (marker, start, end, passage.text[start:end])
        for marker, passage in cited.items()
        for start, end in sentence_spans(passage.text)
    ]
    if not units:
        return Judgement(False, 0.0, [], None)
    quoted = _verbatim(sentence, cited)
    if quoted is not None:  # the documents' own words
        return Judgement(True, 1.0, [], quoted)
    stated = figures.figures(sentence)
    unit_figures = [figures.figures(text) for *_, text in units]
    missing = [f.value for f in stated if not any(figures.figure_supported(f, found) for found in unit_figures)]
    vectors = encode([sentence, *[text for *_, text in units]])
    similarities = vectors[1:] @ vectors[0]
    words = content_words(sentence)

    def context(i: int) -> set[str]:
        """A sentence stating no figure may lean on the sentence before ("For example, …")."""
        marker, start, _, text = units[i]
        around = content_words(text) | content_words(cited[marker].heading_path)
        return around if stated else around | _neighbour_words(cited[marker], start)

    def coverage(i: int) -> float:
        return len(words & context(i)) / len(words) if words else 1.0

    if stated:  # anchors: the sentences that state one of its figures
        candidates = [
            i for i, found in enumerate(unit_figures) if any(figures.figure_supported(f, found) for f in stated)
        ]
    else:
        candidates = list(range(len(units)))
    if not candidates:
        best = int(np.argmax(similarities))
        return Judgement(False, round(float(similarities[best]), 3), missing, units[best][:3])
    best = max(candidates, key=lambda i: float(similarities[i]) + coverage(i))
    similarity, overlap = float(similarities[best]), coverage(best)
    close = similarity >= SUPPORT_SIMILARITY or (
        similarity >= SUPPORT_SIMILARITY_WITH_OVERLAP and overlap >= SUPPORT_OVERLAP
    )
    anchor = units[best][3]
    if stated:
        # a figure's sentence must be about the same thing: most of its words, or fewer in a close paraphrase
        close = close and (
            overlap >= SUPPORT_OVERLAP or (similarity >= SUPPORT_SIMILARITY and overlap >= SUPPORT_OVERLAP_PARAPHRASE)
        )
        heading = content_words(cited[units[best][0]].heading_path)
        compared, stitched = _figure_context(sentence, stated, anchor, unit_figures[best], heading)
        # a figure's own words taken from another rule ("5 working days of sickness absence"): a sentence
        # that states figures of its own; one that only sets the topic ("We receive health coverage …") is context
        others = set().union(
            set(), *(content_words(u[3]) for i, u in enumerate(units) if i != best and unit_figures[i])
        )
        clause_words = set().union(*(content_words(sentence[slice(*_clause_of(sentence, f.start))]) for f in stated))
        foreign = {w for w in clause_words - context(best) if not w[:1].isdigit()}
        stitched = stitched or bool(foreign & others)
    else:
        compared, stitched = _aligned_clauses(words, anchor), False
    reasons = [
        ("a figure no cited passage states", bool(missing)),
        (
            "a qualifier differs",
            _qualifiers_differ(sentence, compared) or bool(_absolutes(sentence) - _absolutes(anchor)),
        ),
        ("it names something else", _names_differ(sentence, anchor)),
        ("it joins parts of different rules", stitched),
        ("no cited sentence says the same", not close),
    ]
    reason = next((why for why, failed in reasons if failed), "")
    return Judgement(not reason, round(similarity, 3), missing, units[best][:3], reason)


_AS_OF = re.compile(r",\s+as of ([^,;]+?)[.!]?\s*$", re.IGNORECASE)


def _states_dates(text: str, cited: dict[int, Passage]) -> bool:
    """`text` is nothing but dates, each one a cited passage states (in any of its spellings)."""
    found = figures.figures(text)
    if not found or any(f.units != ("date",) for f in found):
        return False
    rest = text
    for f in sorted(found, key=lambda f: f.start, reverse=True):
        rest = rest[: f.start] + rest[f.end :]
    if re.search(r"\w", rest):
        return False
    stated = {f.value for p in cited.values() for f in figures.figures(p.text) if f.units == ("date",)}
    return all(f.value in stated for f in found)


_CLAUSE_BREAK = re.compile(r"[,;:()]|\b(?:and|or|but|while|whereas)\b", re.IGNORECASE)


def _clause_of(text: str, position: int) -> tuple[int, int]:
    breaks = [0] + [m.end() for m in _CLAUSE_BREAK.finditer(text)] + [len(text) + 1]
    start = max(b for b in breaks if b <= position)
    end = min((m.start() for m in _CLAUSE_BREAK.finditer(text) if m.start() >= position), default=len(text))
    return start, end


def _partition(text: str, found: list[figures.Figure]) -> tuple[str, list[str]]:
    """The words before the first figure (usually who pays or receives, shared by every figure),
    and each figure's stretch: from the last clause break before it to the one before the next figure."""
    cuts = [0]
    for previous, figure in zip(found, found[1:], strict=False):
        between = [m.start() for m in _CLAUSE_BREAK.finditer(text, previous.end, figure.start)]
        cuts.append(between[-1] if between else figure.start)
    cuts.append(len(text))
    return text[: found[0].start] if found else text, [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def _figure_context(
    sentence: str, stated: list[figures.Figure], anchor: str, anchor_figures: list[figures.Figure], heading: set[str]
) -> tuple[str, bool]:
    """The anchor's stretches that state the sentence's figures, and whether the sentence pairs a
    figure with words the anchor gives to another figure ("50% for the employee" from "100% for
    the employee and 50% for a partner"), puts together figures the anchor keeps apart, or names
    a figure differently ("first 10 weeks" from "following 10 weeks")."""
    prefix, own = _partition(anchor, anchor_figures)
    s_prefix, s_own = _partition(sentence, stated)
    values = {f.value for f in stated} | {f.value for f in anchor_figures}
    compared, stitched = [prefix], False
    for k, figure in enumerate(stated):
        matches = [j for j, other in enumerate(anchor_figures) if figures.figure_supported(figure, [other])]
        if not matches:
            continue
        mine = content_words(s_prefix + " " + s_own[k]) - values
        fits = []
        for j in matches:
            theirs = content_words(prefix + " " + own[j]) | heading
            elsewhere = set().union(set(), *(content_words(o) for i, o in enumerate(own) if i != j)) - theirs
            following = anchor_figures[j + 1] if j + 1 < len(anchor_figures) else None
            next_stated = stated[k + 1] if k + 1 < len(stated) else None
            apart = (
                following is not None
                and next_stated is not None
                and not figures.figure_supported(next_stated, [following])
            )
            mine_before, theirs_before = _word_before(sentence, figure), _word_before(anchor, anchor_figures[j])
            renamed = bool(mine_before and theirs_before and mine_before != theirs_before)
            fits.append((not (mine - theirs) & elsewhere and not apart and not renamed, j))
        ok, j = max(fits)
        stitched = stitched or not ok
        compared.append(_strong_clause(anchor, anchor_figures[j]))
    return " ".join(compared), stitched


def _strong_clause(text: str, figure: figures.Figure) -> str:
    """The part of a sentence between semicolons or colons that holds the figure."""
    start = max((m.end() for m in re.finditer(r"[;:]", text[: figure.start])), default=0)
    end = min((m.start() for m in re.finditer(r"[;:]", text) if m.start() >= figure.end), default=len(text))
    return text[start:end]


def _word_before(text: str, figure: figures.Figure) -> str:
    """The content word right before a figure ("first" in "the first 16 weeks"), or ""."""
    before = re.findall(r"[^\W\d_]+", text[max(0, figure.start - 30) : figure.start])
    word = before[-1].lower() if before else ""
    return "" if word in STOPWORDS or len(word) <= 2 else word


def _aligned_clauses(words: set[str], anchor: str) -> str:
    """The clauses of the anchor that carry the sentence: the best one, then any that adds two of its words."""
    clauses = [c for c in re.split(r"[,;:()]", anchor) if c.strip()]
    ranked = sorted(clauses, key=lambda c: -len(words & content_words(c)))
    kept, covered = [ranked[0]], words & content_words(ranked[0])
    for clause in ranked[1:]:
        new = (words & content_words(clause)) - covered
        if len(new) >= 2:
            kept.append(clause)
            covered |= new
    return " ".join(kept)


def _verbatim(sentence: str, cited: dict[int, Passage]) -> tuple[int, int, int] | None:
    """Where a cited passage (or its heading and text) holds the sentence word for word, from one
    sentence or clause boundary to another: a quote cut mid-clause can turn a rule around."""
    wanted = flat(sentence).rstrip(".!?:;")
    if not wanted:
        return None
    whole = re.compile(rf"(?:^|(?<=[.!?:;] )){re.escape(wanted)}(?=[.!?:;]|$)")
    for marker, passage in cited.items():
        for text in (passage.text, f"{innermost_heading(passage)}: {passage.text}"):
            if whole.search(flat(text)):
                return marker, *_quoted_sentence(passage.text, wanted)
    return None


def _quoted_sentence(text: str, wanted: str) -> tuple[int, int]:
    """The passage sentence that holds the quote; the whole passage when it runs over several."""
    for start, end in sentence_spans(text):
        if wanted in flat(text[start:end]):
            return start, end
    return 0, len(text)


def flat(text: str) -> str:
    """Text compared as a quote: curly quotes, list bullets and spacing set aside, case folded."""
    text = text.replace("’", "'").replace("“", "").replace("”", "")
    return re.sub(r"\s+", " ", re.sub(r"(?m)^\s*[-*•]\s+", "", text)).strip().casefold()


def _neighbour_words(passage: Passage, start: int) -> set[str]:
    """The sentence before the anchor: "For example, …" and list items lean on it."""
    before = [s for s in sentence_spans(passage.text) if s[1] <= start]
    return content_words(passage.text[before[-1][0] : before[-1][1]]) if before else set()


_BOUNDS = re.compile(r"\b(?:no|not)\s+(?:more|later|longer|fewer)\s+than\b", re.IGNORECASE)
_FLOORS = re.compile(r"\b(?:no|not)\s+(?:less|earlier|shorter|sooner)\s+than\b", re.IGNORECASE)


def _qualifiers_differ(sentence: str, anchor: str) -> bool:
    """ "no more than" is a bound, not a negation."""
    mine = _lower_words(_FLOORS.sub("minimum", _BOUNDS.sub("maximum", sentence)))
    theirs = _lower_words(_FLOORS.sub("minimum", _BOUNDS.sub("maximum", anchor)))
    if bool(mine & _NEGATIONS) != bool(theirs & _NEGATIONS):
        return True
    return any(
        (mine & one and theirs & other and not theirs & one) or (mine & other and theirs & one and not theirs & other)
        for one, other in _OPPOSITES
    )


def _absolutes(text: str) -> set[str]:
    return _lower_words(text) & _ABSOLUTES


def _names_differ(sentence: str, anchor: str) -> bool:
    """Each names a member of a group the other does not ("Monday" for "Tuesday", "director" for "manager")."""
    mine, theirs = _lower_words(sentence), _lower_words(anchor)
    return any((mine & group) - theirs and (theirs & group) - mine for group in _ONE_OF)


def _lower_words(text: str) -> set[str]:
    words = [w.lower().replace("’", "'") for w in _WORD.findall(text.replace("-", " "))]
    words += [figures.unit_stem(w) for w in words]
    return {_SAME.get(w, w) for w in words}


def check_support(text: str, cited: dict[int, Passage], *, encode: Callable[[list[str]], np.ndarray]) -> SupportReport:
    """Every sentence that says something, held against the passages its markers name."""
    checks: list[SentenceCheck] = []
    supporting: dict[int, list[tuple[int, int, set[str]]]] = {m: [] for m in cited}
    for start, end in sentence_spans(text):
        plain = MARKER.sub(" ", text[start:end]).strip()
        if not says_something(plain) or not cited:
            continue
        markers = [int(n) for n in re.findall(r"\[(\d+)\]", text[start:end]) if int(n) in cited]
        if not markers:
            checks.append(SentenceCheck(start, end, [], UNCITED, 0.0, []))
            continue
        judgement = judge(plain, {m: cited[m] for m in markers}, encode=encode)
        if not judgement.supported and (clauses := _conjoined(plain)):
            judged = [judge(c, {m: cited[m] for m in markers}, encode=encode) for c in clauses]
            if all(j.supported for j in judged):
                judgement = replace(judged[0], similarity=min(j.similarity for j in judged))
        verdict = SUPPORTED if judgement.supported else UNSUPPORTED
        checks.append(SentenceCheck(start, end, markers, verdict, judgement.similarity, judgement.unsupported_figures))
        if judgement.supported:
            for m in markers:
                anchored = judgement.anchor is not None and judgement.anchor[0] == m
                start, end = judgement.anchor[1:] if anchored else (0, len(cited[m].text))
                supporting[m].append((start, end, _terms(plain)))
    highlights = {m: _spans_within(cited[m].text, supporting[m]) for m in cited}
    return SupportReport(checks, highlights)


_AND = re.compile(r",?\s+and\s+(?=your\b|you\b|the\b|[A-Z])")


def _conjoined(sentence: str) -> list[str]:
    """ "Your entitlement is 25 days and your taken leave is 12 days, as of …": clauses that each state
    a figure of their own, each judged on its own; a clause without a figure is not split off."""
    clauses = _AND.split(sentence)
    if len(clauses) < 2 or not all(figures.figures(c) for c in clauses):
        return []
    tail = _AS_OF.search(clauses[-1])
    return [c.rstrip(".") + (tail.group(0) if tail and c is not clauses[-1] else "") for c in clauses]


def _terms(text: str) -> set[str]:
    return content_words(text) | {f.value for f in figures.figures(text)}


def _spans_within(text: str, parts: list[tuple[int, int, set[str]]]) -> list[tuple[int, int]]:
    """Runs of the passage's words (or figures) that the supported sentences share with it, each
    sentence's words marked in the passage sentence it rests on, not wherever else they occur
    ("days" and "leave" all over a leave policy say nothing about the answer)."""
    marked = {
        word.span()
        for start, end, terms in parts
        for word in _MARKABLE.finditer(text, start, end)
        if _terms(word.group()) & terms
    }
    runs: list[tuple[int, int]] = []
    for start, end in sorted(marked):
        if runs and start - runs[-1][1] <= 1:
            runs[-1] = (runs[-1][0], max(end, runs[-1][1]))
        else:
            runs.append((start, end))
    return runs


_MARKABLE = re.compile(r"[^\W_]+(?:[.,:][0-9]+)*%?")  # a word or a figure ("46,000", "2.5%")
