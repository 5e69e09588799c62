"""What a user may do to their own conversations; anything else is not found."""

from django.http import Http404
from django.utils import timezone

from chat.history import conversation_for_user
from chat.models import Citation, Message
from ragsite.storable import unstorable_reason

MAX_TITLE = 200
MAX_COMMENT = 2000


class InvalidChange(Exception):
    """The change cannot be made; the message is shown to the person."""


def conversation_rename(*, user, conversation_id: int, title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidChange("The title is empty.")
    if len(title) > MAX_TITLE:
        raise InvalidChange(f"Titles have at most {MAX_TITLE} characters.")
    if reason := unstorable_reason(title):
        raise InvalidChange(reason)
    conversation = conversation_for_user(user, conversation_id)
    conversation.title = title
    conversation.save(update_fields=["title", "updated_at"])
    return title


def conversation_delete(*, user, conversation_id: int) -> str:
    """The deleted conversation's title, for the confirmation."""
    conversation = conversation_for_user(user, conversation_id)
    conversation.delete()
    return conversation.title


def message_feedback(*, user, message_id: int, rating: str, comment: str = "") -> None:
    if rating not in {"up", "down"}:
        raise InvalidChange("Rate with 'up' or 'down'.")
    if len(comment) > MAX_COMMENT:
        raise InvalidChange(f"Comments have at most {MAX_COMMENT} characters.")
    if reason := unstorable_reason(comment):
        raise InvalidChange(reason)
    updated = Message.objects.filter(pk=message_id, conversation__user=user).update(
        feedback=rating, feedback_comment=comment.strip(), feedback_at=timezone.now()
    )
    if not updated:
        raise Http404("No such message.")


def helpful_citations() -> list[tuple[str, str, str]]:
    """(question as searched, heading path, text) of every passage cited by an answer rated helpful:
    the pairs that tune the embedding model. Passages since removed are left out."""
    rows = Citation.objects.filter(
        message__feedback="up", message__status=Message.Status.COMPLETE, chunk__isnull=False
    ).values_list("message__standalone_question", "message__question", "chunk__heading_path", "chunk__text")
    return [(searched or asked, heading, text) for searched, asked, heading, text in rows]
