"""Lexical candidates: PostgreSQL full-text search weighted by inverse document frequency.

`ts_rank` alone counts occurrences; multiplying each query term's rank by its BM25 IDF
(document frequencies kept in LexemeStat by triggers) makes rare terms such as form
numbers or acronyms outweigh common words.
"""

import math
import operator
from functools import reduce

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Value

from knowledge.models import LexemeStat
from knowledge.retrieval.scope import Scope


def query_lexemes(query: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', %s)))", [query])
        return sorted(row[0] for row in cursor.fetchall())


def document_frequencies(lexemes: list[str]) -> dict[str, int]:
    return dict(LexemeStat.objects.filter(lexeme__in=lexemes).values_list("lexeme", "chunk_count"))


def idf_weights(frequencies: dict[str, int]) -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'knowledge_chunk'")
        estimate = float(cursor.fetchone()[0])  # -1 until the table is first analysed
    total = max(estimate, *frequencies.values(), 1.0)
    return {term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()}


def ranked_chunk_ids(scope: Scope, query: str, n: int) -> list[int]:
    """Candidates must contain a term that is not in too many chunks; all query terms score them.

    A term found in more than LEXICAL_MAX_TERM_MATCHES chunks ("employee") would make
    PostgreSQL rank a large part of the table; it still adds to the score of the chunks
    the rarer terms find. When every term is that common, the rarest one selects.
    """
    frequencies = document_frequencies(query_lexemes(query)) if scope.document_ids else {}
    if not frequencies:
        return []
    weights = idf_weights(frequencies)
    queries = {term: SearchQuery(_quoted(term), search_type="raw", config="simple") for term in weights}
    ranks = [Value(w) * SearchRank(F("search_vector"), queries[t], normalization=1) for t, w in weights.items()]
    score = reduce(operator.add, ranks)
    selective = [t for t, df in frequencies.items() if df <= settings.LEXICAL_MAX_TERM_MATCHES]
    any_term = reduce(operator.or_, [queries[t] for t in selective or [min(frequencies, key=frequencies.get)]])
    matches = scope.chunks().filter(search_vector=any_term)
    return list(matches.annotate(score=score).order_by("-score", "id").values_list("id", flat=True)[:n])


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("'", "''") + "'"
