from django.contrib.auth.models import AnonymousUser, User

from knowledge.access import readable_documents


def test_anonymous_and_inactive_users_read_nothing(people, ingest):
    ingest("open.md", "# Open\n\nEveryone may read this.")
    assert not readable_documents(AnonymousUser()).exists()
    assert not readable_documents(None).exists()
    people.bob.is_active = False
    people.bob.save()
    assert not readable_documents(people.bob).exists()


def test_group_document_is_readable_only_inside_the_group(people, ingest):
    open_doc = ingest("open.md", "# Open\n\nEveryone may read this.")
    managers_doc = ingest("pay.md", "# Pay\n\nBands C1 to C6.", groups=[people.managers])
    assert set(readable_documents(people.alice)) == {open_doc, managers_doc}
    assert set(readable_documents(people.bob)) == {open_doc}
    assert set(readable_documents(people.carol)) == {open_doc}
    assert not readable_documents(people.bob).filter(pk=managers_doc.pk).exists()


def test_document_shared_with_two_groups_appears_once(people, ingest):
    doc = ingest("both.md", "# Both\n\nShared text.", groups=[people.managers, people.engineering])
    people.alice.groups.add(people.engineering)
    assert list(readable_documents(people.alice)) == [doc]


def test_superuser_reads_everything(people, ingest):
    doc = ingest("pay.md", "# Pay\n\nBands.", groups=[people.managers])
    admin = User.objects.create_superuser("root", password="pw-root-123")
    assert list(readable_documents(admin)) == [doc]


def test_document_listed_for_a_person_is_theirs_alone_and_a_change_applies_at_once(people, ingest):
    from knowledge import retrieval
    from knowledge.models import Document

    doc = ingest("note.md", "# Note\n\nCarol's relocation allowance is 4,000 EUR.")
    Document.objects.filter(pk=doc.pk).update(visibility=Document.Visibility.GROUPS)
    assert not readable_documents(people.carol).exists(), "restricted with nobody listed: nobody but superusers"
    doc.readers.add(people.carol)
    doc.groups.add(people.managers)
    people.alice.groups.remove(people.managers)
    assert list(readable_documents(people.carol)) == [doc]
    assert not readable_documents(people.bob).exists() and not readable_documents(people.alice).exists()
    assert retrieval.search(people.carol, "relocation allowance", k=3)
    assert retrieval.search(people.bob, "relocation allowance", k=3) == []
