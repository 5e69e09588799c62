from knowledge.models import Chunk
from knowledge.retrieval import search

LEAVE = "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave per year."
PAY = (
    "# Pay bands\n\n## Salary bands\n\n"
    "Grade C3 salary band is 46,000 to 58,000 EUR. Annual leave for managers is 25 days."
)


def test_search_ranks_the_answering_passage_first(people, ingest):
    ingest("leave.md", LEAVE)
    ingest("expenses.md", "# Expenses\n\nHotels up to 150 EUR per night. Taxis after 22:00.")
    passages = search(people.bob, "How many days of holiday do I get?", k=2)
    assert passages[0].heading_path == "Leave > Annual leave"
    assert passages[0].document_title == "Leave"
    assert passages[0].score > passages[1].score


def test_user_outside_group_gets_no_chunks_of_restricted_document(people, ingest):
    ingest("leave.md", LEAVE)
    pay = ingest("pay.md", PAY, groups=[people.managers])
    question = "What is the salary band for grade C3?"
    assert any(p.document_id == pay.pk for p in search(people.alice, question, k=5))
    for user in (people.bob, people.carol):
        passages = search(user, question, k=50)
        assert passages, "the open document is still found"
        assert all(p.document_id != pay.pk for p in passages)


def test_user_who_may_read_nothing_gets_nothing(people, ingest):
    ingest("pay.md", PAY, groups=[people.managers])
    assert search(people.bob, "salary band", k=5) == []


def test_restrictive_filter_still_returns_k_allowed_passages(people, ingest):
    """Many closer chunks the user may not read must not crowd out the few they may."""
    for i in range(12):
        ingest(f"secret-{i}.md", "\n\n".join(f"# Leave {i}-{j}\n\nAnnual leave rule {j}: 25 days." for j in range(5)),
               groups=[people.managers])  # fmt: skip
    allowed = ingest("allowed.md", "\n\n".join(f"# Section {j}\n\nOffice plants policy {j}." for j in range(6)))
    assert Chunk.objects.count() == 66
    passages = search(people.bob, "annual leave days", k=5)
    assert len(passages) == 5
    assert {p.document_id for p in passages} == {allowed.pk}
