from django.core.management.base import BaseCommand

from knowledge.demo import DEMO_USERS, demo_seed


class Command(BaseCommand):
    help = "Create the demo users and queue the demo handbook for ingestion (idempotent)."

    def handle(self, *args, **options) -> None:
        created = demo_seed()
        if created:
            self.stdout.write(f"Queued {len(created)} demo document(s) for ingestion.")
        self.stdout.write("Demo accounts (user / password):")
        for user in DEMO_USERS:
            role = "administrator, /admin/" if user.superuser else f"employee in {', '.join(user.groups)}"
            self.stdout.write(f"  {user.username} / {user.password}   ({role})")
