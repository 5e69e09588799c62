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
