import numpy as np
import pytest
from django.db import connection

from knowledge.access import readable_documents
from knowledge.models import Chunk, Document, LexemeStat
from knowledge.retrieval import SearchOptions, dense, fusion, lexical, search
from knowledge.retrieval.scope import scope_of

LEXICAL_ONLY = SearchOptions(dense=False, lexical=True)
DENSE_ONLY = SearchOptions(dense=True, lexical=False)


def test_lexical_ranking_rewards_the_rare_term(people, ingest):
    ingest("forms.md", "# Forms\n\nSubmit form HR-27B to claim TOIL.\n\n# Other\n\n" + "Any form is a form. " * 20)
    passages = search(people.bob, "which form for TOIL", k=2, options=LEXICAL_ONLY)
    assert "HR-27B" in passages[0].text
    assert passages[0].stages == ("lexical",)


def test_hybrid_finds_an_acronym_the_embedding_blurs(people, ingest):
    ingest("leave.md", "# Public holidays\n\nWork on a public holiday gives a day off in lieu (TOIL).")
    ingest("other.md", "\n\n".join(f"# Topic {i}\n\nGeneral information about office life {i}." for i in range(8)))
    passages = search(people.bob, "what is TOIL", k=3)
    assert "TOIL" in passages[0].text
    assert set(passages[0].stages) == {"dense", "lexical"}


def test_lexeme_statistics_follow_inserts_and_deletes(people, ingest):
    from knowledge.documents import document_delete

    first = ingest("a.md", "# A\n\nPension contributions.\n\n# B\n\nPension scheme rules.")
    ingest("b.md", "# C\n\nPension age.")
    assert LexemeStat.objects.get(lexeme="pension").chunk_count == 3
    document_delete(document_id=first.pk)
    assert LexemeStat.objects.get(lexeme="pension").chunk_count == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM knowledge_chunk')")
        assert dict(cursor.fetchall()) == dict(LexemeStat.objects.values_list("lexeme", "chunk_count"))


def synthetic_corpus(people, documents: int, chunks_each: int, seed: int = 7) -> list[Document]:
    rng = np.random.default_rng(seed)
    made = []
    for d in range(documents):
        document = Document.objects.create(
            title=f"Synthetic {d}",
            status=Document.Status.READY,
            visibility=Document.Visibility.GROUPS,
            chunks_total=chunks_each,
        )
        document.groups.add(people.managers)
        vectors = rng.normal(size=(chunks_each, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                ordinal=i,
                text=f"synthetic {d} {i}",
                char_start=10 * i,
                char_end=10 * i + 9,
                token_count=3,
                embedding=vectors[i],
                embedding_model="synthetic",
            )
            for i in range(chunks_each)
        )
        made.append(document)
    return made


@pytest.mark.parametrize("force_index", [True, False])
def test_user_allowed_one_percent_still_gets_k_allowed_results(people, force_index):
    documents = synthetic_corpus(people, documents=100, chunks_each=30)
    documents[42].groups.set([people.engineering])  # bob may read 30 of 3,000 chunks
    allowed = scope_of(readable_documents(people.bob))
    query = np.random.default_rng(1).normal(size=384).astype(np.float32)
    query /= np.linalg.norm(query)
    exact = dense.ranked_chunk_ids(allowed, query, 10, exact=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
        if force_index:
            cursor.execute("SET enable_seqscan = off")
    try:
        approximate = dense.ranked_chunk_ids(allowed, query, 10, exact=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
    assert len(approximate) == 10
    assert set(Chunk.objects.filter(pk__in=approximate).values_list("document_id", flat=True)) == {documents[42].pk}
    assert len(set(approximate) & set(exact)) >= 9, "recall@10 of filtered HNSW against exact"


def test_user_who_may_read_nothing_gets_nothing_from_any_stage(people):
    synthetic_corpus(people, documents=3, chunks_each=5)
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    allowed = scope_of(readable_documents(people.bob))
    assert dense.ranked_chunk_ids(allowed, vector, 10, exact=True) == []
    assert dense.ranked_chunk_ids(allowed, vector, 10, exact=False) == []
    assert lexical.ranked_chunk_ids(allowed, "synthetic", 10) == []
    assert search(people.bob, "synthetic", k=5) == []
    assert len(search(people.alice, "synthetic", k=5)) == 5


def test_fusion_weight_one_or_zero_ranks_as_that_stage_alone():
    found = {"dense": [1, 2, 3], "lexical": [4, 3]}
    similarity = {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.1}
    bm25 = {4: 12.0, 3: 6.0}
    assert [c.chunk_id for c in fusion.convex_combination(found, similarity, bm25, dense_weight=1.0)] == [1, 2, 3, 4]
    assert [c.chunk_id for c in fusion.convex_combination(found, similarity, bm25, dense_weight=0.0)][:2] == [4, 3]
    fused = fusion.convex_combination(found, similarity, bm25, dense_weight=0.5)
    assert fused[0].chunk_id == 3, "second by similarity, second by BM25: first together"
    assert next(c for c in fused if c.chunk_id == 3).stages == ["dense", "lexical"]


def test_fusion_rewards_a_passage_both_stages_rank_well():
    found = {"dense": [1, 2, 3], "lexical": [3, 5, 1]}
    similarity = {1: 0.80, 2: 0.78, 3: 0.79, 5: 0.2}
    bm25 = {3: 10.0, 5: 9.0, 1: 1.0}
    fused = fusion.convex_combination(found, similarity, bm25, dense_weight=0.5)
    assert fused[0].chunk_id == 3, "close second on similarity and first on BM25"
    assert {c.chunk_id for c in fused} == {1, 2, 3, 5}


def test_fusion_of_one_candidate_or_equal_scores_is_defined():
    assert [c.chunk_id for c in fusion.convex_combination({"dense": [7]}, {7: 0.5}, {}, dense_weight=0.3)] == [7]
    fused = fusion.convex_combination({"dense": [2, 1]}, {1: 0.5, 2: 0.5}, {}, dense_weight=0.5)
    assert [c.chunk_id for c in fused] == [1, 2] and all(c.score == 0.25 for c in fused)


def test_fusion_does_not_stretch_similarities_that_are_all_noise():
    """ "What is TOIL?": every passage about as far from the question; one names TOIL."""
    found = {"dense": [1, 2, 3, 4], "lexical": [9]}
    similarity = {1: 0.107, 2: 0.105, 3: 0.103, 4: 0.085, 9: -0.097}
    fused = fusion.convex_combination(found, similarity, {9: 4.2}, dense_weight=0.7)
    assert fused[0].chunk_id == 9, "stretched to 0..1, the noise would have put 9 last"


@pytest.mark.parametrize("who", ["bob", "alice"])
def test_an_answer_keeps_the_passage_naming_the_acronym_the_user_may_read(people, ingest, who):
    ingest("holidays.md", "# Public holidays\n\nIf you work on a public holiday you get a day off in lieu (TOIL).",
           groups=[people.managers])  # fmt: skip
    questions = "\n\n".join(f"# What is it {i}?\n\nWhat is this? It is what it is, number {i}." for i in range(8))
    ingest("other.md", questions)
    from django.utils import timezone

    from knowledge.retrieval import passages_for_answer

    user = getattr(people, who)
    by_similarity = SearchOptions(dense_weight=1.0)  # the ranking alone would leave it out
    found = passages_for_answer(user, "What is TOIL?", today=timezone.localdate(), options=by_similarity)
    naming = [p for p in found.passages if "TOIL" in p.text]
    if who == "alice":
        assert len(naming) == 1 and naming[0].stages == ("lexical",)
    else:
        assert naming == [] and all("TOIL" not in p.text and "lieu" not in p.text for p in found.passages)


def test_overlapping_chunks_of_one_section_are_deduplicated():
    rows = [
        {"document_id": 1, "heading_path": "A", "char_start": 0, "char_end": 100},
        {"document_id": 1, "heading_path": "A", "char_start": 80, "char_end": 180},
        {"document_id": 1, "heading_path": "B", "char_start": 80, "char_end": 180},
        {"document_id": 2, "heading_path": "A", "char_start": 0, "char_end": 100},
    ]
    assert fusion.drop_overlapping(rows) == [rows[0], rows[2], rows[3]]


def test_mmr_prefers_a_different_passage_over_a_near_duplicate():
    vectors = np.array([[1.0, 0.0], [0.999, 0.045], [0.0, 1.0]])
    assert fusion.maximal_marginal_relevance([0.9, 0.89, 0.6], vectors, k=2, weight=0.5) == [0, 2]
    assert fusion.maximal_marginal_relevance([0.9, 0.89, 0.6], vectors, k=2, weight=1.0) == [0, 1]


def test_a_very_common_term_scores_but_does_not_select(people, ingest, settings):
    settings.LEXICAL_SELECTIVE_MIN, settings.LEXICAL_SELECTIVE_SHARE = 2, 0.0
    ingest("a.md", "# A\n\nEmployee handbook.\n\n# B\n\nEmployee parking.\n\n# C\n\nEmployee form HR-9 and pension.")
    scope = scope_of(readable_documents(people.bob))
    found = Chunk.objects.filter(pk__in=lexical.ranked_chunk_ids(scope, "employee pension", 10))
    assert [c.text for c in found] == ["Employee form HR-9 and pension."]
    assert len(lexical.ranked_chunk_ids(scope, "employee", 10)) == 3, "all common: the rarest still selects"
