from django.conf import settings
from django.db import models


class Conversation(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        FAILED = "failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    question = models.TextField()
    standalone_question = models.TextField(blank=True, help_text="The question as searched, follow-ups made whole.")
    answer = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.STREAMING)
    error = models.TextField(blank=True)
    prompt_version = models.CharField(max_length=32, blank=True)
    backend = models.CharField(max_length=200, blank=True)
    dropped_markers = models.PositiveIntegerField(default=0)
    support = models.JSONField(default=list, blank=True, help_text="Per-sentence support check (chat.support).")
    version_note = models.TextField(
        blank=True, help_text="The closing note on when the cited versions apply; shown under the sources."
    )
    incomplete = models.JSONField(
        default=list, blank=True, help_text="The parts of the question the documents found do not answer."
    )
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    feedback = models.CharField(
        max_length=4, blank=True, choices=[("up", "Helpful"), ("down", "Not helpful")], help_text="The asker's rating."
    )
    feedback_comment = models.TextField(blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["streaming", "complete", "stopped", "failed"]),
                name="message_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(feedback__in=["", "up", "down"]), name="message_feedback_valid"),
        ]

    def __str__(self) -> str:
        return self.question[:80]


class Citation(models.Model):
    """A snapshot of the cited passage: re-ingesting or deleting the document never rewrites it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="citations")
    marker = models.PositiveIntegerField()
    chunk = models.ForeignKey("knowledge.Chunk", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    document = models.ForeignKey(
        "knowledge.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    document_title = models.CharField(max_length=300)
    heading_path = models.CharField(max_length=1000, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    quote = models.TextField()
    highlights = models.JSONField(default=list, blank=True, help_text="[start, end] of supporting words in quote.")

    class Meta:
        ordering = ["marker"]
        constraints = [models.UniqueConstraint(fields=["message", "marker"], name="citation_unique_marker")]

    def __str__(self) -> str:
        return f"[{self.marker}] {self.document_title}"


class AuditEntry(models.Model):
    """Who asked what and which documents answered it; outlives the conversation it came from.

    Written by chat.audit in the transaction that stores the answer; read by HR staff only.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, help_text="Kept if the account is deleted.")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    question = models.TextField()
    standalone_question = models.TextField(blank=True)
    status = models.CharField(max_length=16)
    prompt_documents = models.JSONField(default=list, help_text="Documents whose passages the model was given.")
    cited_documents = models.JSONField(default=list, help_text="Documents the answer cites.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.username}: {self.question[:60]}"


class PassageVectors(models.Model):
    """The vectors `chat.passage_vectors` keeps of one chunk's sentences, for the answer checks.

    One row per chunk: `digests` holds an 8-byte digest of each text, `vectors` its float32
    vector, in the same order. Written by the first answer that uses the chunk.
    """

    chunk = models.OneToOneField(
        "knowledge.Chunk", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )  # the constraint is the database's own, ON DELETE CASCADE (migration 0006)
    encoder = models.CharField(max_length=200, help_text="model|backend that made the vectors")
    digests = models.BinaryField()
    vectors = models.BinaryField()

    def __str__(self) -> str:
        return f"vectors of chunk {self.chunk_id}"
