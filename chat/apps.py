from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        """Open sockets hear about logouts and changed users (chat.socket_guard)."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save

        from chat import socket_guard

        user_logged_out.connect(socket_guard.on_logout, dispatch_uid="socket_guard.logout")
        post_save.connect(socket_guard.on_user_change, sender=get_user_model(), dispatch_uid="socket_guard.save")
        post_delete.connect(socket_guard.on_user_change, sender=get_user_model(), dispatch_uid="socket_guard.delete")
