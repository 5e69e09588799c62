import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Document
from tests.office_files import docx_bytes


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "policies" / "travel").mkdir(parents=True)
    (tmp_path / "policies" / "leave.md").write_text("# Leave\n\n25 days of annual leave.")
    (tmp_path / "policies" / "travel" / "trains.docx").write_bytes(docx_bytes())
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (tmp_path / ".hidden.md").write_text("# Secret\n\nskip me")
    return tmp_path


def run(path, *args) -> str:
    import io

    out = io.StringIO()
    call_command("ingest_folder", str(path), *args, stdout=out, verbosity=0)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_folder_is_ingested_recursively_with_a_summary(db, folder):
    output = run(folder)
    assert "2 ready, 0 unchanged, 1 failed (of 3 files)." in output
    assert "failed: broken.pdf: The PDF is damaged" in output
    assert set(Document.objects.values_list("source_path", flat=True)) == {
        "policies/leave.md",
        "policies/travel/trains.docx",
        "broken.pdf",
    }


@pytest.mark.django_db(transaction=True)
def test_second_run_updates_instead_of_duplicating(db, folder):
    run(folder)
    (folder / "policies" / "leave.md").write_text("# Leave\n\n30 days of annual leave.")
    output = run(folder)
    assert "1 ready, 1 unchanged, 1 failed" in output
    leave = Document.objects.get(source_path="policies/leave.md")
    assert [c.text for c in leave.chunks.all()] == ["30 days of annual leave."]
    assert Document.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_group_option_restricts_visibility_and_unknown_group_is_an_error(db, folder, people):
    run(folder / "policies", "--group", "managers")
    assert set(Document.objects.values_list("visibility", flat=True)) == {Document.Visibility.GROUPS}
    assert all(list(d.groups.all()) == [people.managers] for d in Document.objects.all())
    with pytest.raises(CommandError, match="No such group: nobody"):
        run(folder, "--group", "nobody")


def test_missing_folder_is_an_error(db, tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        run(tmp_path / "nope")
