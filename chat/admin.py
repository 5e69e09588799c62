from django.contrib import admin
from django.template.defaultfilters import linebreaksbr

from chat.audit import can_read_audit, shown_answer
from chat.models import AuditEntry
from knowledge.admin import ADMIN_CSS


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only, and only for HR staff: nobody edits or deletes the record of what was asked."""

    list_display = ["created_at", "username", "question", "status", "cited"]
    list_filter = ["status", "created_at"]

    class Media:
        css = {"all": [ADMIN_CSS]}

    search_fields = ["username", "question", "standalone_question"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "username",
        "question",
        "standalone_question",
        "status",
        "answer",
        "cited",
        "given_to_model",
    ]
    readonly_fields = fields

    def get_object(self, request, object_id, from_field=None):
        entry = super().get_object(request, object_id, from_field)
        if entry is not None:
            entry.shown_answer = shown_answer(entry, request.user)
        return entry

    @admin.display(description="Answer")
    def answer(self, entry: AuditEntry) -> str:
        return linebreaksbr(getattr(entry, "shown_answer", ""), autoescape=True)

    @admin.display(description="Passages given to the model came from")
    def given_to_model(self, entry: AuditEntry) -> str:
        return ", ".join(d["title"] for d in entry.prompt_documents) or "—"

    @admin.display(description="Cited documents")
    def cited(self, entry: AuditEntry) -> str:
        return ", ".join(d["title"] for d in entry.cited_documents) or "—"

    def has_module_permission(self, request) -> bool:
        return can_read_audit(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return can_read_audit(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
