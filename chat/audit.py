"""The audit log: who asked what, and which documents answered.

Entries are written with the answer they describe and survive the conversation's deletion.
They hold questions and document titles, so only HR staff read them.
"""

from django.conf import settings

from chat.models import AuditEntry, Message
from knowledge.access import readable_documents
from knowledge.retrieval import Passage


def audit_record(message: Message, user, prompt: list[Passage], cited: list[Passage]) -> AuditEntry:
    return AuditEntry.objects.create(
        user=user,
        username=user.get_username(),
        message=message,
        question=message.question,
        standalone_question=message.standalone_question,
        status=message.status,
        prompt_documents=_documents(prompt),
        cited_documents=_documents(cited),
    )


def can_read_audit(user) -> bool:
    if not (user.is_active and user.is_staff):
        return False
    return user.is_superuser or user.groups.filter(name=settings.HR_GROUP).exists()


def _documents(passages: list[Passage]) -> list[dict]:
    seen: dict[int, str] = {}
    for passage in passages:
        seen.setdefault(passage.document_id, passage.document_title)
    return [{"id": pk, "title": title} for pk, title in seen.items()]


def shown_answer(entry: AuditEntry, viewer) -> str:
    """The answer as the auditor may see it: whole only when they may read every document it
    cites (`knowledge.access`); the entry's titles say which documents those were."""
    message = entry.message
    if message is None:
        return "(Not kept: the asker deleted the conversation.)"
    cited = {d["id"] for d in entry.cited_documents}
    readable = set(readable_documents(viewer).filter(pk__in=cited).values_list("pk", flat=True))
    if cited - readable:
        return "(Hidden: the answer cites documents you may not read, or that were deleted.)"
    return message.answer or "(No answer was written.)"
