"""Who may read which document: the one place that decides.

Every query that returns document text starts from `readable_documents`. It returns
nothing for anonymous or inactive users, so a missing check fails closed.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from knowledge.models import Document


def readable_documents(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Document]:
    if user is None or not user.is_authenticated or not user.is_active:
        return Document.objects.none()
    if user.is_superuser:
        return Document.objects.all()
    shared_with_user_groups = Document.groups.through.objects.filter(group__user=user).values("document_id")
    shared_with_user = Document.readers.through.objects.filter(user=user).values("document_id")
    return Document.objects.filter(
        Q(visibility=Document.Visibility.EVERYONE)
        | Q(visibility=Document.Visibility.GROUPS) & (Q(pk__in=shared_with_user_groups) | Q(pk__in=shared_with_user))
    )


# Personal records (knowledge.records) live under this source path, one document per person.
RECORDS_PREFIX = "records/"


def own_records(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[Document]:
    """The asker's own personal records: readable, and shared with them by name.

    Not the records HR staff or a superuser may read because of their role: "my balance" is
    never a colleague's.
    """
    if user is None or not user.is_authenticated:
        return Document.objects.none()
    return readable_documents(user).filter(source_path__startswith=RECORDS_PREFIX, readers=user)


def without_others_records(documents: QuerySet[Document], user) -> QuerySet[Document]:
    """`documents` less the personal records of other people, for a question about oneself."""
    return documents.exclude(Q(source_path__startswith=RECORDS_PREFIX) & ~Q(pk__in=own_records(user).values("pk")))
