import pytest
from django.core.files.base import ContentFile

from knowledge import embedding
from knowledge.ingestion import document_ingest
from knowledge.models import Chunk, Document
from tests.pdfs import pdf_with_pages

HANDBOOK = (
    "# Leave\n\n## Annual leave\n\nFull-time employees receive 25 days of paid annual leave.\n\n"
    "## Sick leave\n\nSelf-certify up to 7 days."
)


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
