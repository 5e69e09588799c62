from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from knowledge.tokens import token_create


class Command(BaseCommand):
    help = "Create a search-API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        self.stdout.write(token_create(user=user, name=name))
