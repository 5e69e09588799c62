"""Example questions for an empty conversation, drawn from what the asker may read.

Built from section headings of the newest documents, the longest sections first: a heading
names what a document covers in its author's words, so the question it makes is one the
documents can answer. Only documents in force today and never a personal record (a colleague's record would leak its
headings; one's own is better asked about in one's own words).
"""

import re

from django.db.models import Sum
from django.utils import timezone

from chat.citations import section_of
from knowledge.access import RECORDS_PREFIX, readable_documents
from knowledge.dating import Period
from knowledge.models import Chunk, Document
from knowledge.versions import in_force

MAX_HEADING_CHARS = 60
RECENT_DOCUMENTS = 20  # the page's cost stays bounded however large the knowledge base
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]?)+\s+")


def example_questions(user, limit: int = 4) -> list[str]:
    """At most one question per document while others remain, so several documents show."""
    today = timezone.localdate()
    documents = in_force(
        readable_documents(user).filter(status=Document.Status.READY).exclude(source_path__startswith=RECORDS_PREFIX),
        Period(today, today),
    )
    sections = (
        Chunk.objects.filter(document__in=documents.order_by("-created_at").values("pk")[:RECENT_DOCUMENTS])
        .exclude(heading_path="")
        .values("document_id", "document__title", "heading_path")
        .annotate(tokens=Sum("token_count"))
        .order_by("-tokens", "heading_path")[:200]
    )
    chosen: list[str] = []
    spare: list[str] = []
    seen_documents: set[int] = set()
    seen_topics: set[str] = set()
    for row in sections:
        topic = _topic(row["document__title"], row["heading_path"])
        if not topic or topic.casefold() in seen_topics:
            continue
        seen_topics.add(topic.casefold())
        question = f"What does “{row['document__title']}” say about {topic}?"
        if row["document_id"] in seen_documents:
            spare.append(question)
        else:
            seen_documents.add(row["document_id"])
            chosen.append(question)
    return (chosen + spare)[:limit]


def _topic(title: str, heading_path: str) -> str:
    """The innermost heading, lower-cased at its start unless it begins with a name or acronym."""
    section = section_of(title, heading_path)
    heading = section.split(" > ")[-1] if section else ""
    heading = _NUMBERING.sub("", heading).strip().rstrip(":.").strip()
    if not heading or len(heading) > MAX_HEADING_CHARS or not any(c.isalpha() for c in heading):
        return ""
    first = heading.split()[0]
    if len(first) > 1 and first[1:].islower():
        heading = heading[0].lower() + heading[1:]
    return heading
