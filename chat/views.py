from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chat.conversations import InvalidChange, conversation_delete, conversation_rename, message_feedback
from chat.examples import example_questions
from chat.export import conversation_markdown
from chat.history import conversation_for_user, conversation_messages, user_conversations


@login_required
def index(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    conversation = conversation_for_user(request.user, conversation_id) if conversation_id else None
    shown = conversation_messages(request.user, conversation) if conversation else []
    return render(
        request,
        "chat/index.html",
        {
            "conversations": user_conversations(request.user),
            "conversation": conversation,
            "messages_shown": shown,
            "examples": [] if shown else example_questions(request.user),
            "max_question_chars": settings.CHAT_MAX_QUESTION_CHARS,
        },
    )


@login_required
@require_POST
def rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Answers the page's script in JSON; a browser without script gets the page back with a message."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        title = conversation_rename(
            user=request.user, conversation_id=conversation_id, title=request.POST.get("title", "")
        )
    except InvalidChange as exc:
        if wants_json:
            return JsonResponse({"error": str(exc)}, status=400)
        messages.error(request, str(exc))
    else:
        if wants_json:
            return JsonResponse({"title": title})
        messages.success(request, "Conversation renamed.")
    return redirect("chat:conversation", conversation_id=conversation_id)


@login_required
@require_POST
def delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    title = conversation_delete(user=request.user, conversation_id=conversation_id)
    messages.success(request, f"Deleted “{title}”.")
    return redirect("chat:index")


@login_required
def export(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_for_user(request.user, conversation_id)
    response = HttpResponse(
        conversation_markdown(request.user, conversation), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.md"'
    return response


@login_required
@require_POST
def feedback(request: HttpRequest, message_id: int) -> JsonResponse:
    try:
        message_feedback(
            user=request.user,
            message_id=message_id,
            rating=request.POST.get("rating", ""),
            comment=request.POST.get("comment", ""),
        )
    except InvalidChange as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"ok": True})
