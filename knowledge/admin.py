from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count
from django.template.defaultfilters import filesizeformat

from knowledge.access import readable_documents
from knowledge.documents import document_delete, document_schedule_ingest, find_identical, title_from_filename
from knowledge.models import ApiToken, Document
from knowledge.parsing import SUPPORTED_DESCRIPTION


class DocumentForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title", "file", "visibility", "groups", "readers"]

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
            twin = find_identical(data, exclude_id=self.instance.pk)
            if twin is not None:
                raise forms.ValidationError(f"This file is identical to the document “{twin.title}”; edit that one.")
        return upload

    def clean(self):
        cleaned = super().clean()
        restricted = cleaned.get("visibility") == Document.Visibility.GROUPS
        if restricted and not cleaned.get("groups") and not cleaned.get("readers"):
            self.add_error("groups", "Choose at least one group or person, or make the document visible to everyone.")
        return cleaned


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    form = DocumentForm
    list_display = ["title", "status_with_progress", "chunk_count", "page_count", "visibility", "error", "ingested_at"]
    list_filter = ["status", "visibility", "groups"]
    search_fields = ["title", "original_name"]
    readonly_fields = ["status", "error", "checksum", "page_count", "ingested_at", "original_name"]
    actions = ["reingest"]

    class Media:
        js = ["knowledge/refresh_while_processing.js"]

    filter_horizontal = ["groups", "readers"]

    def get_queryset(self, request):
        """Staff see only what they may read: an HR record stays with HR staff."""
        readable = readable_documents(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=readable).annotate(_chunk_count=Count("chunks"))

    @admin.display(description="status", ordering="status")
    def status_with_progress(self, obj: Document) -> str:
        if obj.status == Document.Status.PROCESSING and obj.chunks_total:
            return f"processing ({obj.chunks_embedded}/{obj.chunks_total} chunks embedded)"
        return obj.status

    @admin.display(description="chunks", ordering="_chunk_count")
    def chunk_count(self, obj: Document) -> int:
        return obj._chunk_count

    def save_model(self, request, obj: Document, form, change: bool) -> None:
        file_changed = "file" in form.changed_data
        if file_changed:
            obj.original_name = obj.file.name.rsplit("/", 1)[-1]
        if not obj.title:
            obj.title = title_from_filename(obj.original_name or obj.file.name)
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)
        if file_changed:
            document_schedule_ingest(document_id=obj.pk)

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

    list_display = ["user", "name", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False
