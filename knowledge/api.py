"""Documents by API, for staff tokens with the `documents` scope: upload, status, replace, delete.

A script that keeps the handbook in sync from a repository or the store where HR writes it.
The checks are the admin's own form (`knowledge.admin.DocumentForm`: size, duplicates, groups or
readers for restricted documents, dates in order, no version loops), so an upload by API and one
in the admin are refused for the same reasons in the same words; parse errors come back as the
document's status, as in the admin.
"""

import io

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from knowledge.access import readable_documents
from knowledge.documents import document_delete, document_describe_file, document_schedule_ingest
from knowledge.models import Document
from knowledge.tokens import bearer_token
from ragsite.api_errors import ApiError
from ragsite.storable import unstorable_reason

FIELDS = {"file", "title", "visibility", "groups", "readers", "supersedes", "effective_from", "effective_until"}


@csrf_exempt  # bearer tokens only
def documents(request: HttpRequest) -> HttpResponse:
    try:
        user = _staff(request, "add")
        data, files = _form(request)
        if "file" not in files:
            raise ApiError(400, "file_required", "Send the document in a form field named 'file'.")
        document = _save(user, Document(), data, files)
    except ApiError as exc:
        return exc.response()
    return JsonResponse(describe(document), status=201)


@csrf_exempt
def document(request: HttpRequest, document_id: int | str) -> HttpResponse:
    try:
        if not str(document_id).isdigit():
            raise ApiError(404, "document_not_found", "No such document (or you may not read it).")
        action = {"GET": "view", "PUT": "change", "DELETE": "delete"}.get(request.method or "")
        if action is None:
            raise ApiError(405, "method_not_allowed", "GET a document's status, PUT a new file, or DELETE it.")
        user = _staff(request, action)
        found = readable_documents(user).filter(pk=document_id).first()
        if found is None:
            raise ApiError(404, "document_not_found", "No such document (or you may not read it).")
        if action == "delete":
            with transaction.atomic():
                document_delete(document_id=found.pk)
            return HttpResponse(status=204)
        if action == "change":
            data, files = _form(request)
            if "file" not in files:
                raise ApiError(400, "file_required", "Send the new file in a form field named 'file'.")
            found = _save(user, found, data, files)
    except ApiError as exc:
        return exc.response()
    return JsonResponse(describe(found))


def describe(document: Document) -> dict:
    """What the admin's list says of a document, as data."""
    document.refresh_from_db()
    return {
        "id": document.pk,
        "title": document.title,
        "status": document.status,
        "chunks_embedded": document.chunks_embedded,
        "chunks_total": document.chunks_total,
        "error": document.error,
        "pages": document.page_count,
        "visibility": document.visibility,
        "groups": sorted(document.groups.values_list("name", flat=True)),
        "readers": sorted(document.readers.values_list("username", flat=True)),
        "supersedes": document.supersedes_id,
        "effective_from": document.effective_from.isoformat() if document.effective_from else None,
        "effective_until": document.effective_until.isoformat() if document.effective_until else None,
        "metadata": document.metadata,
        "url": reverse("document", args=[document.pk]),
    }


def _staff(request: HttpRequest, action: str):
    user = bearer_token(request, "documents").user
    if not user.is_staff or not user.has_perm(f"knowledge.{action}_document"):
        raise ApiError(403, "not_allowed", f"Only staff who may {action} documents in the admin may do it by API.")
    return user


def _form(request: HttpRequest) -> tuple[QueryDict, dict]:
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(415, "multipart_required", "Send the document as multipart/form-data.")
    try:
        if request.method == "POST":
            data, files = request.POST, request.FILES
        else:  # Django parses a form only for POST
            parser = MultiPartParser(request.META, io.BytesIO(request.body), request.upload_handlers, request.encoding)
            data, files = parser.parse()
    except MultiPartParserError:
        raise ApiError(400, "malformed_form", "The multipart body cannot be read.") from None
    if unknown := (set(data) | set(files)) - FIELDS:
        raise ApiError(400, "unknown_field", f"Unknown field {sorted(unknown)[0]!r}; send {', '.join(sorted(FIELDS))}.")
    texts = [v for key in data for v in data.getlist(key)] + [f.name or "" for f in files.values()]
    if reason := next((unstorable_reason(t) for t in texts if unstorable_reason(t)), None):
        raise ApiError(400, "unstorable_text", reason)
    return data, files


def _save(user, document: Document, data: QueryDict, files) -> Document:
    """The admin's form decides; a refusal lists its reasons field by field."""
    from knowledge.admin import DocumentForm

    fields = data.copy()
    fields.setlist("groups", _ids(Group, "name", data.getlist("groups")))
    fields.setlist("readers", _ids(get_user_model(), "username", data.getlist("readers")))
    if document.pk and "visibility" not in data:  # a new file keeps who may read it
        fields["visibility"] = document.visibility
        fields.setlist(
            "groups", fields.getlist("groups") or [str(pk) for pk in document.groups.values_list("pk", flat=True)]
        )
        fields.setlist(
            "readers", fields.getlist("readers") or [str(pk) for pk in document.readers.values_list("pk", flat=True)]
        )
        fields.setdefault("title", document.title)
    fields.setdefault("visibility", Document.Visibility.EVERYONE)
    form_class = type("ApiDocumentForm", (DocumentForm,), {"uploader": user})
    form = form_class(fields, files, instance=document)
    form.fields["supersedes"].queryset = readable_documents(user).exclude(pk=document.pk)
    if not form.is_valid():
        reasons = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        raise ApiError(400, "invalid_document", reasons)
    with transaction.atomic():
        saved = form.save(commit=False)
        document_describe_file(saved, file_name=files["file"].name, title=data.get("title", "") or saved.title)
        if not saved.pk:
            saved.uploaded_by = user
        saved.save()
        form.save_m2m()
        document_schedule_ingest(document_id=saved.pk)
    return saved


def _ids(model, field: str, names: list[str]) -> list[str]:
    found = dict(model.objects.filter(**{f"{field}__in": names}).values_list(field, "pk"))
    if missing := [n for n in names if n not in found]:
        raise ApiError(400, "unknown_name", f"No {model._meta.verbose_name} named {missing[0]!r}.")
    return [str(found[n]) for n in names]
