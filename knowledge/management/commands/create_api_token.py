from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from knowledge.models import ApiToken
from knowledge.tokens import token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiToken.SCOPES,
            help="search, ask, documents (repeat; default: search and ask)",
        )
        parser.add_argument("--days", type=int, help="the token expires after this many days (default: never)")

    def handle(self, *args, username: str, name: str, scope: list[str] | None, days: int | None, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        expires = timezone.now() + timedelta(days=days) if days else None
        self.stdout.write(token_create(user=user, name=name, scopes=scope, expires_at=expires))
