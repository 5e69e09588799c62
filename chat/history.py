"""What a user sees of their own past conversations.

Citation text is shown only while the user may still read the cited document
(`knowledge.access`); otherwise the citation says the source is no longer available.
"""

import dataclasses
import json
from dataclasses import dataclass, field

from django.http import Http404
from django.utils import timezone

from chat.citations import passage_url, section_of
from chat.models import Conversation, Message
from chat.notes import incomplete_warning
from knowledge import versions
from knowledge.access import readable_documents


@dataclass(frozen=True)
class ShownCitation:
    marker: int
    document_title: str
    heading_path: str
    page: int | None
    text: str
    available: bool
    url: str = ""
    highlights: list = field(default_factory=list)
    version: str = ""  # how the cited version stands today: a rule superseded since is labelled so
    version_state: str = ""
    version_clause: str = ""


@dataclass(frozen=True)
class ShownMessage:
    id: int
    feedback: str
    question: str
    standalone_question: str
    answer: str
    status: str
    support: list[dict]
    citations: list[ShownCitation]
    version_note: str = ""
    incomplete: list[str] = dataclasses.field(default_factory=list)

    @property
    def incomplete_warning(self) -> str:
        return incomplete_warning(self.incomplete)

    @property
    def support_json(self) -> str:
        return json.dumps(self.support)

    @property
    def citations_json(self) -> str:
        """The page's script renders these cards with the same code as a new answer's (chat.js, showCitations)."""
        return json.dumps([dataclasses.asdict(c) for c in self.citations])


def user_conversations(user) -> list[Conversation]:
    return list(Conversation.objects.filter(user=user)[:50])


def conversation_for_user(user, conversation_id: int) -> Conversation:
    conversation = Conversation.objects.filter(pk=conversation_id, user=user).first()
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def conversation_messages(user, conversation: Conversation) -> list[ShownMessage]:
    messages = list(Message.objects.filter(conversation=conversation).prefetch_related("citations"))
    cited_ids = {c.document_id for m in messages for c in m.citations.all() if c.document_id}
    notes = versions.describe(readable_documents(user).filter(pk__in=cited_ids), timezone.localdate())
    return [
        ShownMessage(
            id=m.pk,
            feedback=m.feedback,
            question=m.question,
            standalone_question=m.standalone_question,
            answer=m.answer,
            status=m.status,
            support=m.support,
            citations=[_shown(c, notes) for c in m.citations.all()],
            version_note=m.version_note,
            incomplete=m.incomplete,
        )
        for m in messages
    ]


def _shown(citation, notes: dict[int, versions.VersionNote]) -> ShownCitation:
    """`notes` has an entry for every cited document the user may still read."""
    available = citation.document_id in notes
    if available:
        title = citation.document_title
    elif citation.document_id is None:
        title = "Source removed: the document was deleted"
    else:
        title = "Source no longer available"
    return ShownCitation(
        marker=citation.marker,
        document_title=title,
        heading_path=section_of(citation.document_title, citation.heading_path) if available else "",
        page=citation.page if available else None,
        text=citation.quote if available else "",
        available=available,
        url=passage_url(citation.document_id, citation.chunk_id) if available else "",
        highlights=citation.highlights if available else [],
        version=notes[citation.document_id].label if available else "",
        version_state=notes[citation.document_id].state if available else "",
        version_clause=notes[citation.document_id].clause if available else "",
    )
