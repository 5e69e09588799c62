"""Search latency and filtered-HNSW recall at 10k and 100k chunks (synthetic vectors and text).

Usage: .venv/bin/python bench/search.py [--sizes 10000 100000] [--queries 60]
Starts a throw-away embedded PostgreSQL, fills the chunk table, and for users allowed
100%, 10% and 1% of the documents prints p50/p95 latency of dense, lexical and hybrid
search (query embedding excluded) beside an exact sequential scan of the same rows, and
the recall@10 of the HNSW path against exact. The last line is, for the largest size,
`hybrid_p50_ms=<x> dense_p50_ms=<y> min_filtered_recall_at_10=<z>` (100% level latencies).
"""

import argparse
import statistics
import time

import numpy as np
from scratch import scratch_django

CHUNKS_PER_DOCUMENT = 20
LEVELS = {"100%": "all", "10%": "ten", "1%": "one"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()

    with scratch_django():
        last = None
        for size in args.sizes:
            last = run(size, args.queries)
        print(
            f"hybrid_p50_ms={last['100%']['hybrid'][0]:.2f} dense_p50_ms={last['100%']['dense'][0]:.2f} "
            f"min_filtered_recall_at_10={min(level['recall'] for level in last.values()):.3f}"
        )


def fill(size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Clustered vectors (like real embeddings, unlike uniform noise) and Zipf-distributed words."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from pgvector.psycopg import register_vector

    from knowledge import bm25
    from knowledge.models import Chunk, Document, LexemeStat

    Chunk.objects.all().delete()
    Document.objects.all().delete()
    LexemeStat.objects.all().delete()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in LEVELS.values()}
    documents = size // CHUNKS_PER_DOCUMENT
    Document.objects.bulk_create(
        Document(title=f"Doc {d}", status="ready", visibility="groups", chunks_total=CHUNKS_PER_DOCUMENT)
        for d in range(documents)
    )
    ids = list(Document.objects.order_by("pk").values_list("pk", flat=True))
    through = Document.groups.through
    memberships = [through(document_id=i, group_id=groups["all"].pk) for i in ids]
    memberships += [through(document_id=i, group_id=groups["ten"].pk) for i in ids[::10]]
    memberships += [through(document_id=i, group_id=groups["one"].pk) for i in ids[::100]]
    through.objects.bulk_create(memberships)

    centres = rng.normal(size=(256, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 256, size)] + 0.6 * rng.normal(size=(size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocabulary = [f"term{i}" for i in range(20_000)]
    words = rng.zipf(1.3, size=(size, 40)) % len(vocabulary)
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw")
        register_vector(cursor.connection)
        with cursor.connection.cursor().copy(
            "COPY knowledge_chunk (document_id, ordinal, text, heading_path, char_start, char_end, token_count,"
            " embedding, embedding_model, embedding_next_model) FROM STDIN"
        ) as copy:
            for n in range(size):
                text = " ".join(vocabulary[w] for w in words[n])
                copy.write_row((ids[n // CHUNKS_PER_DOCUMENT], n % CHUNKS_PER_DOCUMENT, text, "", 0, len(text), 40,
                                vectors[n], "synthetic", ""))  # fmt: skip
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(
            "CREATE INDEX chunk_embedding_hnsw ON knowledge_chunk USING hnsw (embedding vector_cosine_ops)"
            " WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute("ANALYZE")
        print(f"  built HNSW over {size} chunks in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    bm25.refresh()  # the COPY wrote each chunk's BM25 weights before the average length was known
    print(f"  BM25 weights of {size} chunks refreshed in {time.perf_counter() - started:.1f} s")
    queries = centres[rng.integers(0, 256, 100)] + 0.6 * rng.normal(size=(100, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    texts = [f"{vocabulary[int(rng.integers(0, 30))]} {vocabulary[int(rng.integers(100, 5000))]}" for _ in range(100)]
    return queries, texts


def run(size: int, query_count: int) -> dict:
    from django.contrib.auth.models import Group, User

    from knowledge.access import readable_documents
    from knowledge.retrieval import SearchOptions, dense, search_prepared
    from knowledge.retrieval.scope import scope_of

    rng = np.random.default_rng(size)
    started = time.perf_counter()
    vectors, texts = fill(size, rng)
    print(f"size={size} filled in {time.perf_counter() - started:.1f} s")
    methods = {
        "dense": SearchOptions(dense=True, lexical=False),
        "lexical": SearchOptions(dense=False, lexical=True),
        "hybrid": SearchOptions(),
        "exact": SearchOptions(dense=True, lexical=False, exact=True),
    }
    results = {}
    for level, group in LEVELS.items():
        user, _ = User.objects.get_or_create(username=f"user-{group}")
        user.groups.set([Group.objects.get(name=group)])
        allowed = readable_documents(user)
        scope = scope_of(allowed)
        row = {}
        for name, options in methods.items():
            for i in range(3):  # warm caches
                search_prepared(scope_of(allowed), texts[i], vectors[i], k=10, options=options)
            times = []
            for i in range(query_count):
                started = time.perf_counter()
                search_prepared(scope_of(allowed), texts[i], vectors[i], k=10, options=options)
                times.append((time.perf_counter() - started) * 1000)
            row[name] = (statistics.median(times), statistics.quantiles(times, n=20)[18])
        hits = []
        for i in range(query_count):
            exact = set(dense.ranked_chunk_ids(scope, vectors[i], 10, exact=True))
            approximate = set(dense.ranked_chunk_ids(scope, vectors[i], 10, exact=False))
            hits.append(len(exact & approximate) / max(len(exact), 1))
        row["recall"] = statistics.mean(hits)
        results[level] = row
        cells = "  ".join(f"{m} p50={row[m][0]:.2f} p95={row[m][1]:.2f}" for m in methods)
        print(f"  {level:>4} allowed: {cells}  hnsw_recall@10={row['recall']:.3f}")
    return results


if __name__ == "__main__":
    main()
