from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chat.history import conversation_for_user, conversation_messages, user_conversations


@login_required
def index(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    conversation = conversation_for_user(request.user, conversation_id) if conversation_id else None
    return render(
        request,
        "chat/index.html",
        {
            "conversations": user_conversations(request.user),
            "conversation": conversation,
            "messages_shown": conversation_messages(request.user, conversation) if conversation else [],
        },
    )
