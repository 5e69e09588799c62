"""BM25 in the database: scores equal the formula computed here from PostgreSQL's own terms."""

import math

import pytest
from django.db import connection

from knowledge import bm25
from knowledge.access import readable_documents
from knowledge.documents import document_delete
from knowledge.models import ChunkTerms
from knowledge.retrieval import SearchOptions, lexical, search
from knowledge.retrieval.scope import scope_of

LEXICAL_ONLY = SearchOptions(dense=False, lexical=True, dedupe=False)

CORPUS = {
    "pension.md": "# Pension\n\nThe pension scheme matches contributions up to 5%. Pension age is 67.",
    "leave.md": "# Annual leave\n\nEveryone gets 25 days of annual leave. Leave carries over for five days.",
    "long.md": "# Travel\n\n"
    + "Trains are booked through the travel desk for every trip abroad. " * 12
    + "A pension is not paid for travel.",
}


def expected_scores(query: str, k1: float, b: float, heading_weight: float) -> dict[int, float]:
    """BM25 by hand from the chunks' tsvectors: tf (heading words weighted), dl, avgdl, IDF."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.id, t.lexeme, t.weights FROM knowledge_chunk c, unnest(c.search_vector) t")
        rows = cursor.fetchall()
        cursor.execute("SELECT unnest(tsvector_to_array(to_tsvector('english', %s)))", [query])
        terms = {row[0] for row in cursor.fetchall()}
    tf: dict[int, dict[str, float]] = {}
    for chunk_id, lexeme, weights in rows:
        tf.setdefault(chunk_id, {})[lexeme] = sum(heading_weight if w == "A" else 1 for w in weights)
    length = {c: sum(t.values()) for c, t in tf.items()}
    avgdl = sum(length.values()) / len(length)
    n = len(tf)
    scores = {}
    for chunk_id, counts in tf.items():
        score = 0.0
        for term in terms & counts.keys():
            df = sum(1 for other in tf.values() if term in other)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            f = counts[term]
            score += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * length[chunk_id] / avgdl))
        if score:
            scores[chunk_id] = score
    return scores


def stored_scores(user, query: str) -> dict[int, float]:
    return dict(lexical.ranked(scope_of(readable_documents(user)), lexical.query_terms(query), 50))


@pytest.mark.parametrize(
    ("k1", "b", "heading_weight"), [(1.2, 0.75, 1.0), (0.9, 0.4, 1.0), (2.0, 1.0, 3.0), (1.2, 0.0, 1.0)]
)
def test_scores_are_bm25_of_the_stored_terms(people, ingest, settings, k1, b, heading_weight):
    settings.LEXICAL_BM25_K1, settings.LEXICAL_BM25_B, settings.LEXICAL_HEADING_WEIGHT = k1, b, heading_weight
    for name, text in CORPUS.items():
        ingest(name, text)
    for query in ["pension age", "annual leave days", "travel pension trains", "what is the pension?"]:
        expected = expected_scores(query, k1, b, heading_weight)
        got = stored_scores(people.bob, query)
        assert got.keys() == expected.keys(), query
        for chunk_id, score in expected.items():
            assert got[chunk_id] == pytest.approx(score, rel=1e-5), query  # sparsevec stores float32


def test_length_normalisation_and_saturation(people, ingest):
    short = ingest("short.md", "# A\n\nOvertime is paid.")
    ingest("long.md", "# B\n\nOvertime is paid. " + "Meetings start on time and end on time. " * 10)
    repeated = ingest("repeated.md", "# C\n\n" + "Overtime overtime overtime overtime. " * 3 + "Paid.")
    scores = {p.document_id: p.score for p in search(people.bob, "overtime", k=3, options=LEXICAL_ONLY)}
    ranked = sorted(scores, key=scores.get, reverse=True)
    assert ranked[0] == repeated.pk and ranked[1] == short.pk, "twelve mentions beat one, a short chunk a long one"
    raw = stored_scores(people.bob, "overtime")
    assert max(raw.values()) / min(raw.values()) < 12 * 0.5, "term frequency saturates"


def test_heading_words_count_with_their_weight(people, ingest, settings):
    ingest("a.md", "# Expenses\n\nKeep receipts for every claim.")
    ingest("b.md", "# Claims\n\nExpenses are paid monthly with receipts.")
    settings.LEXICAL_HEADING_WEIGHT = 3.0
    assert bm25.refresh_if_needed()
    top = search(people.bob, "expenses", k=1, options=LEXICAL_ONLY)[0]
    assert top.heading_path == "Expenses"


def test_statistics_follow_inserts_and_deletes_and_refresh_when_they_drift(people, ingest):
    first = ingest("a.md", CORPUS["pension.md"])
    stats = bm25.statistics()
    assert stats.chunks == 1 and stats.avgdl == stats.current_avgdl > 0
    ingest("b.md", CORPUS["long.md"])
    stats = bm25.statistics()
    assert stats.chunks == ChunkTerms.objects.count() == 2
    assert stats.avgdl == pytest.approx(stats.current_avgdl), "the long chunk moved the average: refreshed"
    document_delete(document_id=first.pk)
    stats = bm25.statistics()
    assert stats.chunks == 1 and ChunkTerms.objects.count() == 1, "weights go with their chunk"
    assert bm25.needs_refresh(stats, bm25.Parameters.from_settings())
    assert bm25.refresh_if_needed() and not bm25.refresh_if_needed()


@pytest.mark.parametrize(
    "query", ["O'Brien's form", "form \\ 'x' | & ! <-> :*", "'", "\\", "((((", "the of and", "", "  ", "é" * 5000]
)
def test_hostile_queries_score_without_error(people, ingest, query):
    ingest("form.md", "# Forms\n\nO'Brien's form is HR-27B.")
    passages = search(people.bob, query, k=3, options=LEXICAL_ONLY)
    if "O'Brien" in query:
        assert "HR-27B" in passages[0].text
    else:
        assert all("HR-27B" in p.text for p in passages)


def test_lexical_stage_never_returns_what_the_user_may_not_read(people, ingest):
    ingest("secret.md", "# Salaries\n\nThe salary bands are confidential.", groups=[people.managers])
    ingest("open.md", "# Canteen\n\nLunch is served at noon.")
    assert stored_scores(people.bob, "salary bands") == {}
    assert search(people.bob, "salary bands", k=5, options=LEXICAL_ONLY) == []
    assert len(stored_scores(people.alice, "salary bands")) == 1


def test_the_command_shows_the_index_and_refreshes_it(people, ingest, settings):
    from io import StringIO

    from django.core.management import call_command

    ingest("a.md", CORPUS["pension.md"])
    out = StringIO()
    call_command("lexical_index", stdout=out)
    assert "1 chunks" in out.getvalue() and "k1 1.2, b 0.75" in out.getvalue()
    assert "changed" not in out.getvalue()
    settings.LEXICAL_BM25_B = 0.3
    out = StringIO()
    call_command("lexical_index", stdout=out)
    assert "changed" in out.getvalue()
    call_command("lexical_index", "--refresh", stdout=StringIO())
    assert bm25.statistics().parameters.b == 0.3
