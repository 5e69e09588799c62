from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count
from django.template.defaultfilters import filesizeformat, pluralize
from django.utils import timezone

from knowledge import embedding_models, versions
from knowledge.access import readable_documents
from knowledge.dating import format_day
from knowledge.documents import (
    document_delete,
    document_describe_file,
    document_schedule_conflict_check,
    document_schedule_ingest,
    find_identical,
)
from knowledge.embedding import ModelMissing
from knowledge.models import ApiToken, Conflict, Document, EmbeddingModel
from knowledge.parsing import SUPPORTED_DESCRIPTION

ADMIN_CSS = "knowledge/admin.css"  # larger tap targets in the filter lists


class DocumentForm(forms.ModelForm):
    uploader = None  # set per request by DocumentAdmin.get_form; None reads nothing

    class Meta:
        model = Document
        fields = ["title", "file", "visibility", "groups", "readers", "supersedes", "effective_from", "effective_until"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["title"].required = False
        self.fields["title"].help_text = "Left empty, the file name is used."
        self.fields["file"].help_text = f"{SUPPORTED_DESCRIPTION}; at most {filesizeformat(settings.MAX_UPLOAD_BYTES)}."

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload and upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is {filesizeformat(settings.MAX_UPLOAD_BYTES)}."
            )
        if upload and "file" in self.changed_data:
            data = upload.read()
            upload.seek(0)
            twin = find_identical(data, among=readable_documents(self.uploader), exclude_id=self.instance.pk)
            if twin is not None:
                raise forms.ValidationError(f"This file is identical to the document “{twin.title}”; edit that one.")
        return upload

    def clean(self):
        cleaned = super().clean()
        restricted = cleaned.get("visibility") == Document.Visibility.GROUPS
        if restricted and not cleaned.get("groups") and not cleaned.get("readers"):
            self.add_error("groups", "Choose at least one group or person, or make the document visible to everyone.")
        starts, until = cleaned.get("effective_from"), cleaned.get("effective_until")
        if starts and until and until < starts:
            self.add_error("effective_until", "The last day in force cannot be before the first.")
        older = cleaned.get("supersedes")
        if older is not None and versions.would_cycle(self.instance, older):
            self.add_error("supersedes", "That document is this one or a newer version of it.")
        return cleaned


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = [
        "title",
        "status_with_progress",
        "visible_to",
        "version_today",
        "ingested_at",
    ]  # five columns: the list fits a 1,366 px screen beside the admin's menu
    list_filter = ["status", "visibility", "groups"]
    ordering = ["-created_at", "-id"]  # an upload appears at the top, where the person who made it looks
    search_fields = ["title", "original_name"]
    readonly_fields = [
        "status",
        "error",
        "checksum",
        "page_count",
        "ingested_at",
        "original_name",
        "detected_effective_from",
        "detected_effective_until",
        "metadata",
    ]
    actions = ["reingest", "confirm_detected_dates"]

    class Media:
        js = ["knowledge/refresh_while_processing.js"]
        css = {"all": [ADMIN_CSS]}

    filter_horizontal = ["groups", "readers"]

    def get_queryset(self, request):
        """Staff see only what they may read: an HR record stays with HR staff."""
        readable = readable_documents(request.user).values("pk")
        documents = super().get_queryset(request).filter(pk__in=readable).annotate(_chunk_count=Count("chunks"))
        return versions.with_standing(documents).prefetch_related("groups", "readers")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.uploader = request.user
        older = form.base_fields["supersedes"]
        older.queryset = readable_documents(request.user).exclude(pk=getattr(obj, "pk", None))
        detected = obj and obj.detected_effective_from
        if detected and not obj.effective_from:
            form.base_fields["effective_from"].help_text += (
                f" The text says {format_day(detected)}: use the action “Confirm detected effective dates” "
                "or type it here."
            )
        return form

    @admin.display(description="version today")
    def version_today(self, obj: Document) -> str:
        note = versions.note_of(vars(obj), timezone.localdate())
        if note.label:
            return note.label
        if obj.detected_effective_from and not obj.effective_from:
            return f"Text says in force from {format_day(obj.detected_effective_from)} (not confirmed)"
        return "—"

    @admin.display(description="who may read it", ordering="visibility")
    def visible_to(self, obj: Document) -> str:
        if obj.visibility == Document.Visibility.EVERYONE:
            return "Everyone"
        named = [f"group {g.name}" for g in obj.groups.all()] + [u.get_username() for u in obj.readers.all()]
        return ", ".join(named) if named else "Nobody yet (no group or person chosen)"

    @admin.display(description="status", ordering="status")
    def status_with_progress(self, obj: Document) -> str:
        """With what else a glance needs: the passage count when ready, the reason when failed."""
        if obj.status == Document.Status.PROCESSING and obj.chunks_total:
            return f"processing ({obj.chunks_embedded}/{obj.chunks_total} chunks embedded)"
        if obj.status == Document.Status.READY:
            pages = f", {obj.page_count} page{pluralize(obj.page_count)}" if obj.page_count else ""
            return f"ready ({obj._chunk_count} passage{pluralize(obj._chunk_count)}{pages})"
        if obj.error:
            return f"{obj.status}: {obj.error}"
        return obj.status

    def save_model(self, request, obj: Document, form, change: bool) -> None:
        file_changed = "file" in form.changed_data
        dates_changed = change and {"supersedes", "effective_from", "effective_until"} & set(form.changed_data)
        if file_changed or not obj.title:
            document_describe_file(obj, file_name=obj.file.name, title=obj.title)
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)
        if file_changed:
            document_schedule_ingest(document_id=obj.pk)
        elif dates_changed:
            older = {obj.supersedes_id, form.initial.get("supersedes")}
            document_schedule_conflict_check(document_ids=[obj.pk, *(pk for pk in older if pk)])

    @admin.action(description="Confirm detected effective dates")
    def confirm_detected_dates(self, request, queryset) -> None:
        confirmed = list(
            queryset.filter(effective_from__isnull=True, detected_effective_from__isnull=False).values_list(
                "pk", flat=True
            )
        )
        count = versions.confirm_detected(Document.objects.filter(pk__in=confirmed))
        document_schedule_conflict_check(document_ids=confirmed)
        skipped = queryset.count() - count
        self.message_user(
            request,
            f"Confirmed the dates found in {count} document(s)"
            + (f"; {skipped} had dates already or none were found." if skipped else "."),
            messages.SUCCESS,
        )

    @admin.action(description="Re-ingest selected documents")
    def reingest(self, request, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for document_id in ids:
            document_schedule_ingest(document_id=document_id, force=True)
        self.message_user(request, f"Queued {len(ids)} document(s) for ingestion.", messages.SUCCESS)

    def delete_model(self, request, obj: Document) -> None:
        document_delete(document_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for document_id in queryset.values_list("pk", flat=True):
            document_delete(document_id=document_id)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `manage.py create_api_token` (the key is shown once); here they are listed and revoked."""

    list_display = ["user", "name", "scopes", "expires_at", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "key_hash", "scopes", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Conflict)
class ConflictAdmin(admin.ModelAdmin):
    """Found at ingestion; resolved by fixing the documents (or their dates), or dismissed when intended."""

    list_display = [
        "figures",
        "document",
        "sentence",
        "other_document",
        "other_sentence",
        "detected_at",
        "dismissed_at",
    ]
    list_filter = [("dismissed_at", admin.EmptyFieldListFilter)]

    class Media:
        css = {"all": [ADMIN_CSS]}

    readonly_fields = [f.name for f in Conflict._meta.fields]
    actions = ["dismiss", "reopen"]

    def get_queryset(self, request):
        """Only conflicts between two documents this member of staff may read."""
        readable = readable_documents(request.user).values("pk")
        return super().get_queryset(request).filter(document__in=readable, other_document__in=readable)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_dismiss_permission(self, request) -> bool:
        """Whoever may edit documents may decide that two of them do not really conflict."""
        return request.user.has_perm("knowledge.change_document")

    @admin.action(description="Dismiss: the documents are right as they are", permissions=["dismiss"])
    def dismiss(self, request, queryset) -> None:
        count = queryset.filter(dismissed_at=None).update(dismissed_at=timezone.now(), dismissed_by=request.user)
        self.message_user(
            request, f"Dismissed {count} conflict(s); answers no longer point them out.", messages.SUCCESS
        )

    @admin.action(description="Reopen", permissions=["dismiss"])
    def reopen(self, request, queryset) -> None:
        count = queryset.exclude(dismissed_at=None).update(dismissed_at=None, dismissed_by=None)
        self.message_user(request, f"Reopened {count} conflict(s).", messages.SUCCESS)


@admin.register(EmbeddingModel)
class EmbeddingModelAdmin(admin.ModelAdmin):
    """Models come from `finetune_embeddings`; here they are compared, activated and rolled back."""

    list_display = [
        "name",
        "state",
        "chunks_with_vectors",
        "heldout_ndcg",
        "activated_at",
    ]
    readonly_fields = [f.name for f in EmbeddingModel._meta.fields] + ["heldout_base", "heldout_tuned"]
    exclude = ["manifest"]
    actions = ["activate", "activate_forced", "roll_back"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        busy = obj is not None and obj.state != EmbeddingModel.State.AVAILABLE
        return super().has_delete_permission(request, obj) and not busy

    def has_switch_permission(self, request) -> bool:
        return request.user.is_superuser

    def changelist_view(self, request, extra_context=None):
        self._counts = {s.row.pk: s for s in embedding_models.statuses()}
        return super().changelist_view(request, extra_context)

    @admin.display(description="chunks with its vectors")
    def chunks_with_vectors(self, obj: EmbeddingModel) -> str:
        status = getattr(self, "_counts", {}).get(obj.pk)
        return f"{status.chunks_with_vectors}/{status.chunks_total}" if status else "—"

    @admin.display(description="held-out nDCG@10, base → tuned")
    def heldout_ndcg(self, obj: EmbeddingModel) -> str:
        """One narrow column for the list (the page fits 1,366 px); the model's page has every figure."""
        metrics = obj.manifest.get("metrics") or {}
        base, tuned = ((metrics.get(k) or {}).get("ndcg@10") for k in ("base", "tuned"))
        if base is None and tuned is None:
            return "—"
        return " → ".join(f"{v:.3f}" if v is not None else "—" for v in (base, tuned))

    @admin.display(description="held-out base (nDCG@10 · MRR@10 · recall@5)")
    def heldout_base(self, obj: EmbeddingModel) -> str:
        return _metrics((obj.manifest.get("metrics") or {}).get("base"))

    @admin.display(description="held-out tuned")
    def heldout_tuned(self, obj: EmbeddingModel) -> str:
        return _metrics((obj.manifest.get("metrics") or {}).get("tuned"))

    def _activate(self, request, queryset, *, force: bool) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one model to activate.", messages.ERROR)
            return
        self._start(request, queryset.get().name, force=force)

    def _start(self, request, name: str, *, force: bool) -> None:
        try:
            embedding_models.activate(name, force=force)
        except (embedding_models.ActivationRefused, ModelMissing) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            f"Re-embedding every chunk with {name} in the background; questions use the current model until "
            "it is done, then switch at once.",
            messages.SUCCESS,
        )

    @admin.action(description="Activate (re-embed in the background, then switch)", permissions=["switch"])
    def activate(self, request, queryset) -> None:
        self._activate(request, queryset, force=False)

    @admin.action(description="Activate even if it scored worse than its base", permissions=["switch"])
    def activate_forced(self, request, queryset) -> None:
        self._activate(request, queryset, force=True)

    @admin.action(description="Roll back to the model active before the current one", permissions=["switch"])
    def roll_back(self, request, queryset) -> None:
        try:
            target = embedding_models.rollback_target()
        except embedding_models.ActivationRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self._start(request, target.name, force=True)


def _metrics(scores: dict | None) -> str:
    if not scores:
        return "—"
    return " · ".join(f"{scores[m]:.3f}" if m in scores else "—" for m in ("ndcg@10", "mrr@10", "recall@5"))
