"""BM25 term weights stored per chunk (knowledge_chunkterms), kept in step with the settings.

Each chunk's weights, tf·(k1+1)/(tf + k1·(1−b+b·dl/avgdl)), are written by the database
when the chunk is inserted, with the parameters and average length in knowledge_lexicalindex.
A query then scores a chunk with one inner product (`retrieval.lexical`). The average length
moves as documents come and go, and the settings can change: `refresh_if_needed`, called after
every ingestion, rewrites all weights when the stored parameters differ from the settings or
the average length has drifted by more than LEXICAL_REFRESH_DRIFT. Every chunk always uses the
same parameters, so scores stay comparable; only the average lags, by at most that drift.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction


@dataclass(frozen=True)
class Parameters:
    k1: float
    b: float
    heading_weight: float

    @classmethod
    def from_settings(cls) -> "Parameters":
        return cls(settings.LEXICAL_BM25_K1, settings.LEXICAL_BM25_B, settings.LEXICAL_HEADING_WEIGHT)


@dataclass(frozen=True)
class Statistics:
    chunks: int
    length_sum: float
    avgdl: float | None  # the average length the stored weights use
    parameters: Parameters | None  # None until the first refresh

    @property
    def current_avgdl(self) -> float:
        return self.length_sum / self.chunks if self.chunks else 0.0


def statistics() -> Statistics:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chunks, length_sum, avgdl, k1, b, heading_weight FROM knowledge_lexicalindex WHERE id = 1"
        )
        row = cursor.fetchone()
    if row is None:
        return Statistics(0, 0.0, None, None)
    chunks, length_sum, avgdl, k1, b, heading_weight = row
    stored = None if k1 is None else Parameters(k1, b, heading_weight)
    return Statistics(chunks, length_sum, avgdl, stored)


def needs_refresh(stats: Statistics, wanted: Parameters) -> bool:
    if not stats.chunks:
        return False
    if stats.parameters != wanted or not stats.avgdl:
        return True
    return abs(stats.current_avgdl / stats.avgdl - 1) > settings.LEXICAL_REFRESH_DRIFT


def refresh_if_needed() -> bool:
    """True when the weights were rewritten (a statistics read otherwise)."""
    if not needs_refresh(statistics(), Parameters.from_settings()):
        return False
    refresh()
    return True


def refresh(parameters: Parameters | None = None) -> None:
    """Rewrites every chunk's weights with `parameters` (default: the settings) and the current
    average length, in one transaction that holds the statistics row, so ingestions wait for it
    and write their chunks with the new parameters."""
    p = parameters or Parameters.from_settings()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT heading_weight FROM knowledge_lexical_parameters()")  # creates and locks the row
        stored = statistics().parameters
        if stored is None or stored.heading_weight != p.heading_weight:
            cursor.execute(
                "UPDATE knowledge_chunkterms t SET length = knowledge_bm25_length(c.search_vector, %s) "
                "FROM knowledge_chunk c WHERE c.id = t.chunk_id",
                [p.heading_weight],
            )
        cursor.execute("SELECT count(*), coalesce(sum(length), 0) FROM knowledge_chunkterms")
        chunks, length_sum = cursor.fetchone()
        avgdl = length_sum / chunks if chunks else None
        cursor.execute(
            "UPDATE knowledge_chunkterms t SET weights = knowledge_bm25_weights(c.search_vector, %s, %s, %s, %s) "
            "FROM knowledge_chunk c WHERE c.id = t.chunk_id",
            [avgdl, p.k1, p.b, p.heading_weight],
        )
        cursor.execute(
            "UPDATE knowledge_lexicalindex SET chunks = %s, length_sum = %s, avgdl = %s, k1 = %s, b = %s, "
            "heading_weight = %s WHERE id = 1",
            [chunks, length_sum, avgdl, p.k1, p.b, p.heading_weight],
        )
