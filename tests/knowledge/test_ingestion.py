import numpy as np
import pytest
from django.core.files.base import ContentFile

from knowledge import embedding, ingestion
from knowledge.documents import document_create, document_delete
from knowledge.ingestion import document_ingest, documents_ingest
from knowledge.models import Chunk, Document
from tests.office_files import docx_bytes, pptx_bytes, xlsx_bytes, zip_bomb_docx
from tests.pdfs import encrypted_pdf, pdf_with_pages

HANDBOOK = (
    "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave.\n\n"
    "## Sick leave\n\nSelf-certify up to 7 days."
)


def _ingest_one(document_id: int) -> None:
    document_ingest(document_id=document_id)


def _ingest_in_bulk(document_id: int) -> None:
    documents_ingest(document_ids=[document_id])


def _upload(name: str, text: str) -> Document:
    return document_create(file=ContentFile(text.encode(), name=name), schedule=False)


def test_upload_is_ingested_into_embedded_chunks(db, ingest):
    document = ingest("leave.md", HANDBOOK)
    assert document.status == Document.Status.READY, document.error
    chunks = list(document.chunks.all())
    assert [c.heading_path for c in chunks] == ["Leave > Annual leave", "Leave > Sick leave"]
    assert all(c.embedding_model == embedding.MODEL_NAME and len(c.embedding) == 384 for c in chunks)
    assert document.ingested_at is not None and len(document.checksum) == 64
    assert document.title == "Leave"


def test_pdf_chunks_carry_their_page(db, ingest):
    document = ingest("policy.pdf", pdf_with_pages(["Leave is 25 days.", "Expenses within 30 days."]))
    assert document.status == Document.Status.READY, document.error
    assert document.page_count == 2
    assert [c.page for c in document.chunks.all()] == [1, 2]


def test_ingesting_twice_leaves_one_set_of_chunks(db, ingest):
    document = ingest("leave.md", HANDBOOK)
    first_ids = list(document.chunks.values_list("id", flat=True))
    document_ingest(document_id=document.pk)
    assert list(document.chunks.values_list("id", flat=True)) == first_ids, "unchanged file: no work"
    Document.objects.filter(pk=document.pk).update(checksum="")
    document_ingest(document_id=document.pk)
    assert document.chunks.count() == len(first_ids)
    assert Chunk.objects.filter(document=document).values("ordinal").distinct().count() == len(first_ids)


def test_changed_file_replaces_its_chunks(db, ingest):
    document = ingest("leave.md", HANDBOOK)
    document.file.save("leave.md", ContentFile(b"# Leave\n\nEveryone now receives 30 days."), save=True)
    document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert [c.text for c in document.chunks.all()] == ["Everyone now receives 30 days."]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "The file is empty."),
        ("virus.exe", b"MZ\x90\x00", "Unsupported file type"),
        ("broken.pdf", b"%PDF-1.7\n%%garbage", "damaged"),
        ("blank.md", b"\n\n   \n", "no extractable text"),
    ],
)
def test_bad_files_end_failed_with_a_reason_and_no_chunks(db, ingest, name, data, reason):
    document = ingest(name, data)
    assert document.status == Document.Status.FAILED
    assert reason in document.error
    assert not document.chunks.exists()


def test_a_failed_file_does_not_disturb_other_documents(db, ingest):
    good = ingest("leave.md", HANDBOOK)
    ingest("broken.pdf", b"%PDF-1.7 nonsense")
    good.refresh_from_db()
    assert good.status == Document.Status.READY and good.chunks.count() == 2


def test_path_separators_in_a_file_name_stay_out_of_storage_paths(db, ingest):
    document = ingest("../../etc/passwd.md", "# Evil\n\nNot a path.")
    assert document.original_name == "passwd.md"
    assert ".." not in document.file.name
    assert document.status == Document.Status.READY


@pytest.mark.parametrize(
    ("name", "make", "expected_heading", "expected_text"),
    [
        ("travel.docx", docx_bytes, "Travel policy > Hotels", "Paris | 220 EUR"),
        ("deck.pptx", pptx_bytes, "Allowances", "Wellbeing | 400 EUR"),
        ("balances.xlsx", xlsx_bytes, "Balances", "alice | 12"),
        ("balances.csv", lambda: b"name,days\nalice,12\n", "", "alice | 12"),
        ("page.html", lambda: b"<html><body><h1>Expenses</h1><p>Claim in 30 days.</p></body></html>", "Expenses", "30"),
    ],
)
def test_every_office_format_is_ingested(db, ingest, name, make, expected_heading, expected_text):
    document = ingest(name, make())
    assert document.status == Document.Status.READY, document.error
    assert any(c.heading_path == expected_heading and expected_text in c.text for c in document.chunks.all())


@pytest.mark.parametrize("reingest", [_ingest_one, _ingest_in_bulk])
def test_a_long_document_reports_progress_while_it_is_embedded(db, monkeypatch, reingest):
    monkeypatch.setattr(ingestion, "GROUP_CHUNKS", 50)
    document = _upload("long.md", "\n\n".join(f"# Section {i}\n\nPolicy text number {i}." for i in range(70)))
    seen = []
    encode = embedding.encode

    def encode_and_look(texts, **kwargs):
        seen.append(Document.objects.values_list("status", "chunks_total", "chunks_embedded").get(pk=document.pk))
        return encode(texts, **kwargs)

    monkeypatch.setattr(embedding, "encode", encode_and_look)
    reingest(document.pk)
    assert seen == [("processing", 70, 0), ("processing", 70, 64)]
    document.refresh_from_db()
    assert document.chunks_total == document.chunks_embedded == document.chunks.count() == 70


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bomb.docx", zip_bomb_docx(30_000_000), "decompression bomb"),
        ("locked.pdf", encrypted_pdf("Salaries"), "password-protected"),
        ("scan.pdf", pdf_with_pages(["", ""]), "no extractable text"),
        ("latin1.txt", "Prime de fin d'année".encode("latin-1"), "not UTF-8"),
        ("empty.docx", b"", "The file is empty."),
    ],
)
def test_hostile_files_end_failed_with_a_reason(db, ingest, settings, name, data, reason):
    settings.MAX_UNPACKED_BYTES = 10_000_000
    document = ingest(name, data)
    assert document.status == Document.Status.FAILED and reason in document.error
    assert not document.chunks.exists()


def test_file_over_the_size_limit_fails_at_ingestion_too(db, ingest, settings):
    settings.MAX_UPLOAD_BYTES = 50
    document = ingest("big.md", "# Big\n\n" + "word " * 100)
    assert document.status == Document.Status.FAILED and "the limit is 50" in document.error


def test_forced_reingest_rebuilds_an_unchanged_file(db, ingest):
    document = ingest("leave.md", HANDBOOK)
    first_ids = set(document.chunks.values_list("id", flat=True))
    document_ingest(document_id=document.pk, force=True)
    assert set(document.chunks.values_list("id", flat=True)).isdisjoint(first_ids)
    assert document.chunks.count() == len(first_ids)


def test_deleting_a_document_removes_its_chunks_and_file(db, ingest, django_capture_on_commit_callbacks):
    document = ingest("leave.md", HANDBOOK)
    storage, name = document.file.storage, document.file.name
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document_id=document.pk)
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert not storage.exists(name)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reingest", [_ingest_one, _ingest_in_bulk])
def test_question_during_reingestion_sees_old_or_new_chunks_never_a_mix(ingest, reingest):
    """Readers in another connection poll while the document is re-ingested three times."""
    import threading

    from django.db import connection

    document = ingest("leave.md", "\n\n".join(f"# V0 part {i}\n\nVersion zero text {i}." for i in range(30)))
    seen: list[tuple[int, frozenset[str]]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            texts = list(Chunk.objects.filter(document_id=document.pk).values_list("text", flat=True))
            seen.append((len(texts), frozenset(t.split()[1] for t in texts)))
        connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    for version in ("one", "two", "three"):
        body = "\n\n".join(f"# {version} part {i}\n\nVersion {version} text {i}." for i in range(30))
        document.file.save("leave.md", ContentFile(body.encode()), save=True)
        reingest(document.pk)
    stop.set()
    reader.join()
    assert len(seen) > 3
    for count, versions in seen:
        assert count == 30 and len(versions) == 1, (count, versions)


def test_bulk_ingestion_gives_each_chunk_its_own_vector_across_groups(db, monkeypatch):
    monkeypatch.setattr(ingestion, "GROUP_CHUNKS", 4)  # groups that split and join documents
    documents = [
        _upload(f"{topic}.md", "\n\n".join(f"# {topic} rule {i}\n\nAbout {topic}, rule {i} applies." for i in range(n)))
        for topic, n in [("parking", 3), ("bikes", 1), ("lunch", 6), ("pets", 2)]
    ]
    done: list[int] = []
    documents_ingest(document_ids=[d.pk for d in documents] + [documents[0].pk], on_done=done.append)
    assert sorted(done) == sorted(d.pk for d in documents)  # a document named twice is ingested once
    for document, n in zip(documents, [3, 1, 6, 2], strict=True):
        document.refresh_from_db()
        chunks = list(document.chunks.order_by("ordinal"))
        assert document.status == Document.Status.READY and document.chunks_total == n == len(chunks)
        assert [c.ordinal for c in chunks] == list(range(n))
        expected = embedding.encode([f"{c.heading_path}\n{c.text}" for c in chunks])
        assert np.allclose(np.array([c.embedding for c in chunks]), expected, atol=1e-5)
        assert {c.embedding_model for c in chunks} == {embedding.MODEL_NAME}


def test_a_document_deleted_while_its_group_is_embedded_is_skipped_and_the_others_stored(db, monkeypatch):
    kept = [_upload("a.md", "# A\n\nAlpha rules."), _upload("c.md", "# C\n\nGamma rules.")]
    doomed = _upload("b.md", "# B\n\nBeta rules.")
    encode = embedding.encode

    def encode_while_deleting(texts, **kwargs):
        Document.objects.filter(pk=doomed.pk).delete()
        return encode(texts, **kwargs)

    monkeypatch.setattr(embedding, "encode", encode_while_deleting)
    documents_ingest(document_ids=[kept[0].pk, doomed.pk, kept[1].pk])
    assert not Chunk.objects.filter(document_id=doomed.pk).exists()
    for document in kept:
        document.refresh_from_db()
        assert document.status == Document.Status.READY and document.chunks.count() == 1


def test_bulk_reingestion_replaces_chunks_and_unchanged_files_do_no_work(db):
    changed, unchanged = _upload("a.md", "# A\n\nOld alpha."), _upload("b.md", "# B\n\nBeta.")
    documents_ingest(document_ids=[changed.pk, unchanged.pk])
    before = {d.pk: set(d.chunks.values_list("pk", flat=True)) for d in (changed, unchanged)}
    changed.file.save("a.md", ContentFile(b"# A\n\nNew alpha.\n\n# A2\n\nMore."), save=True)
    documents_ingest(document_ids=[changed.pk, unchanged.pk])
    assert set(unchanged.chunks.values_list("pk", flat=True)) == before[unchanged.pk]
    assert before[changed.pk].isdisjoint(changed.chunks.values_list("pk", flat=True))
    assert list(changed.chunks.order_by("ordinal").values_list("text", flat=True)) == ["New alpha.", "More."]


@pytest.mark.parametrize("reingest", [_ingest_one, _ingest_in_bulk])
def test_headings_too_long_for_a_heading_path_are_ingested(db, reingest):
    styled = "Everyone " + " ".join(f"keeps receipt {i}" for i in range(400))  # 5,000 characters
    deep = "\n\n".join(f"{'#' * n} Level {n} {'policy words ' * 15}" for n in range(1, 7))
    document = _upload("odd.md", f"# {styled}\n\nBody text.\n\n{deep}\n\nDeep rule.")
    reingest(document.pk)
    document.refresh_from_db()
    assert document.status == Document.Status.READY, document.error
    chunks = list(document.chunks.all())
    assert "keeps receipt 399" in " ".join(c.text for c in chunks)
    assert all(len(c.heading_path) <= 1000 and c.token_count <= embedding.MAX_SEQUENCE_TOKENS - 2 for c in chunks)


def test_a_document_the_database_refuses_fails_alone_and_its_group_is_stored(db):
    from django.db import connection

    with connection.cursor() as cursor:  # a real refusal from PostgreSQL, for one document's rows
        cursor.execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.text LIKE '%poison%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON knowledge_chunk"
            " FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
        )
    good = [_upload("a.md", "# A\n\nAlpha rules."), _upload("c.md", "# C\n\nGamma rules.")]
    bad = _upload("b.md", "# B\n\nA poison pill.")
    documents_ingest(document_ids=[good[0].pk, bad.pk, good[1].pk])
    for document in good:
        document.refresh_from_db()
        assert document.status == Document.Status.READY and document.chunks.count() == 1
    bad.refresh_from_db()
    assert bad.status == Document.Status.FAILED and "unexpected error" in bad.error
    assert not bad.chunks.exists()


def test_uploaded_files_are_readable_by_the_service_only(db, settings, tmp_path):
    import stat
    from pathlib import Path

    settings.MEDIA_ROOT = tmp_path / "media"
    document = _upload("leave.md", HANDBOOK)
    path = Path(document.file.path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_files_stored_before_are_made_private_when_the_product_starts(tmp_path):
    import stat

    from ragsite.run import make_private

    old = tmp_path / "media" / "documents" / "2026" / "leave.md"
    old.parent.mkdir(parents=True)
    old.write_text("# Leave")
    old.chmod(0o644)
    old.parent.chmod(0o755)
    make_private(tmp_path / "media")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert stat.S_IMODE(old.parent.stat().st_mode) == 0o700
    make_private(tmp_path / "missing")  # a first start has no media folder yet


FRONT_MATTERED = """---
title: "Leave and Holidays"
layout: handbook-page
effective: 2027-01-01
---
# Annual leave

Full-time employees receive 25 days of paid annual
leave per calendar year, in addition to public
holidays.
"""


def test_front_matter_names_the_document_and_offers_its_date_but_is_never_a_passage(db, ingest):
    document = ingest("leave_and_holidays_v2.md", FRONT_MATTERED)
    assert document.status == Document.Status.READY, document.error
    assert document.title == "Leave and Holidays"
    assert document.metadata["layout"] == "handbook-page"
    assert str(document.detected_effective_from) == "2027-01-01"
    assert document.effective_from is None, "offered to the versions feature, not applied"
    texts = [c.text for c in document.chunks.all()]
    assert texts == [
        "Full-time employees receive 25 days of paid annual leave per calendar year, in addition to public holidays."
    ]


def test_a_title_given_by_the_uploader_is_kept(db, ingest):
    document = ingest("leave.md", FRONT_MATTERED, title="Our leave rules")
    assert document.title == "Our leave rules"


def test_a_document_a_killed_worker_left_processing_or_a_lost_task_left_queued_is_queued_again(
    db, ingest, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from knowledge.documents import documents_requeue_stuck

    stuck = ingest("leave.md", HANDBOOK)
    lost = ingest("sick.md", "# Sick leave\n\nSelf-certify up to 7 days.")
    fresh = ingest("travel.md", "# Travel\n\nBook trains through TripDesk.")
    long_ago = timezone.now() - timedelta(minutes=30)
    Document.objects.filter(pk=stuck.pk).update(status=Document.Status.PROCESSING, heartbeat_at=long_ago)
    Document.objects.filter(pk=lost.pk).update(status=Document.Status.QUEUED, queued_at=long_ago)
    Document.objects.filter(pk=fresh.pk).update(status=Document.Status.PROCESSING, heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert documents_requeue_stuck(stale_s=300, max_attempts=3) == (2, 0)
    for document in (stuck, lost):
        document.refresh_from_db()
        assert document.status == Document.Status.READY, document.error
        assert document.ingest_attempts == 0, "finished: the count starts again"
    assert Chunk.objects.filter(document=stuck).count() == 2, "ready once, no duplicate chunks"
    fresh.refresh_from_db()
    assert fresh.status == Document.Status.PROCESSING, "a live ingestion is left alone"


def test_a_document_that_stops_every_time_fails_with_the_reason_in_words(db, ingest):
    from datetime import timedelta

    from django.utils import timezone

    from knowledge.documents import documents_requeue_stuck

    document = ingest("leave.md", HANDBOOK)
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.PROCESSING, heartbeat_at=timezone.now() - timedelta(hours=1), ingest_attempts=2
    )
    assert documents_requeue_stuck(stale_s=300, max_attempts=3) == (0, 1)
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED and "stopped 3 times without finishing" in document.error
    assert not document.chunks.exists(), "nothing stale stays searchable"
