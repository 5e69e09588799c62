from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.index, name="index"),
    path("c/<int:conversation_id>/", views.index, name="conversation"),
    path("c/<int:conversation_id>/rename", views.rename, name="rename"),
    path("c/<int:conversation_id>/delete", views.delete, name="delete"),
    path("c/<int:conversation_id>/export", views.export, name="export"),
    path("m/<int:message_id>/feedback", views.feedback, name="feedback"),
]
