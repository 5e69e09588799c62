from django.urls import path

from chat import api, openai_api, views

app_name = "chat"
urlpatterns = [
    path("", views.index, name="index"),
    path("api/ask", api.api_ask, name="api-ask"),
    path("v1/chat/completions", openai_api.chat_completions, name="openai-chat-completions"),
    path("v1/models", openai_api.models, name="openai-models"),
    path("c/<int:conversation_id>/", views.index, name="conversation"),
    path("c/<int:conversation_id>/rename", views.rename, name="rename"),
    path("c/<int:conversation_id>/delete", views.delete, name="delete"),
    path("c/<int:conversation_id>/export", views.export, name="export"),
    path("m/<int:message_id>/feedback", views.feedback, name="feedback"),
]
