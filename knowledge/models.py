from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, SparseVectorField, VectorField

EMBEDDING_DIMENSIONS = 384


class Document(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    class Visibility(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        GROUPS = "groups", "Listed groups and people only"

    title = models.CharField(max_length=300)
    file = models.FileField(upload_to="documents/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    source_path = models.CharField(
        max_length=1000, blank=True, help_text="Where `ingest_folder` found it, relative to the folder."
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    error = models.TextField(blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility, default=Visibility.EVERYONE)
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="documents",
        help_text="Groups who may read it when visibility is 'Listed groups and people only'.",
    )
    readers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="readable_documents",
        help_text="People who may read it when visibility is 'Listed groups and people only' (personal records).",
    )
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="superseded_by",
        help_text="The earlier version this document replaces, from this one's effective date.",
    )
    effective_from = models.DateField(
        null=True, blank=True, help_text="First day this version is in force. Empty: in force since it was added."
    )
    effective_until = models.DateField(
        null=True, blank=True, help_text="Last day this version is in force, if it ends without a newer version."
    )
    detected_effective_from = models.DateField(
        null=True, blank=True, help_text="Found in the text at ingestion; confirm it to make it the effective date."
    )
    detected_effective_until = models.DateField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="The file's own metadata (front matter), as written; never a passage."
    )
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When its ingestion was last queued.")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of its ingestion: a stopped worker leaves it old."
    )
    ingest_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Ingestions that stopped without finishing, since the last upload."
    )
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_embedded = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "processing", "ready", "failed"]),
                name="document_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(visibility__in=["everyone", "groups"]),
                name="document_visibility_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(effective_from__isnull=True)
                | models.Q(effective_until__isnull=True)
                | models.Q(effective_until__gte=models.F("effective_from")),
                name="document_effective_period_ordered",
            ),
            models.CheckConstraint(condition=~models.Q(supersedes=models.F("pk")), name="document_not_its_own_version"),
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    """A passage of a document, the unit that is embedded, retrieved and cited.

    `text` is exactly `parsed_text[char_start:char_end]` of the document's parsed text.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = models.CharField(max_length=1000, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=200)
    embedding_next = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedding_next_model = models.CharField(
        max_length=200,
        blank=True,
        help_text="The model that made `embedding_next`: the one being built, or the previous one.",
    )
    search_vector = models.GeneratedField(
        expression=SearchVector("heading_path", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_unique_ordinal"),
            models.CheckConstraint(condition=models.Q(char_end__gt=models.F("char_start")), name="chunk_span_nonempty"),
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(name="chunk_search_vector_gin", fields=["search_vector"]),
        ]

    def __str__(self) -> str:
        return f"{self.document.title} #{self.ordinal}"


class EmbeddingModel(models.Model):
    """A model the knowledge base can be searched with: the packaged one, or one `finetune_embeddings` made.

    One is active: questions and new chunks are embedded with it. Activating another fills
    `Chunk.embedding_next` in the background while questions keep using `Chunk.embedding`; the
    switch swaps the two columns in one transaction, so the previous model's vectors stay at
    hand and rolling back costs no re-embedding.
    """

    class State(models.TextChoices):
        AVAILABLE = "available", "Available"
        BUILDING = "building", "Re-embedding"
        ACTIVE = "active", "Active"

    name = models.CharField(max_length=200, unique=True)
    base_model = models.CharField(max_length=200, blank=True)
    manifest = models.JSONField(default=dict, blank=True, help_text="Training data, parameters and held-out metrics.")
    state = models.CharField(max_length=16, choices=State, default=State.AVAILABLE)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The model that was active before this one; rolling back activates it.",
    )  # fmt: skip
    forced = models.BooleanField(default=False, help_text="Activated although it scored worse than its base.")
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["available", "building", "active"]), name="embedding_model_state_valid"
            ),
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="one_active_embedding_model"
            ),
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="building"), name="one_building_embedding_model"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Conflict(models.Model):
    """Two documents in force at the same time whose closely matching sentences state different figures.

    Found at ingestion (`knowledge.conflicts`); an answer that uses either passage says so
    and cites both until an administrator dismisses the conflict or fixes the documents.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="conflicts")
    chunk_id = models.PositiveBigIntegerField()
    sentence = models.TextField()
    other_document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    other_chunk_id = models.PositiveBigIntegerField()
    other_sentence = models.TextField()
    figures = models.CharField(max_length=300, help_text="The figures that differ, as each document states them.")
    similarity = models.FloatField()
    detected_at = models.DateTimeField(auto_now_add=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-detected_at", "id"]
        indexes = [models.Index(fields=["chunk_id"]), models.Index(fields=["other_chunk_id"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(document__lt=models.F("other_document")), name="conflict_documents_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.document} / {self.other_document}: {self.figures}"


class LexemeStat(models.Model):
    """How many chunks contain each stemmed word: the document frequency that lets lexical
    ranking reward rare terms (policy names, form numbers, acronyms). Kept in step with
    chunks inside the same transaction that replaces them."""

    lexeme = models.CharField(max_length=255, primary_key=True)
    chunk_count = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.lexeme} ({self.chunk_count})"


# pgvector's largest sparse dimension; a term's id is its lexeme hashed into it (knowledge_term_id).
TERM_DIMENSIONS = 1_000_000_000


class ChunkTerms(models.Model):
    """A chunk's BM25 term weights, tf·(k1+1)/(tf + k1·(1−b+b·dl/avgdl)) per stemmed term, so
    that a query's score is one inner product with its terms' IDF. Written by the database
    (triggers on knowledge_chunk, `lexical.refresh`), in a table of its own so that rewriting
    the weights never rewrites a chunk's row and its HNSW entry."""

    chunk = models.OneToOneField(
        Chunk, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="terms"
    )  # the constraint is the database's own, ON DELETE CASCADE (migration 0009)
    weights = SparseVectorField(dimensions=TERM_DIMENSIONS)
    length = models.FloatField(help_text="dl: stemmed words but stop words, heading words weighted")

    def __str__(self) -> str:
        return f"terms of chunk {self.chunk_id}"


class LexicalIndex(models.Model):
    """One row: the corpus statistics BM25 needs (chunks, total length) and the parameters the
    stored weights were computed with; `bm25.refresh` rewrites them when these drift."""

    chunks = models.BigIntegerField(default=0)
    length_sum = models.FloatField(default=0)
    avgdl = models.FloatField(null=True, help_text="the average length the stored weights use")
    k1 = models.FloatField(null=True)
    b = models.FloatField(null=True)
    heading_weight = models.FloatField(null=True)

    def __str__(self) -> str:
        return f"{self.chunks} chunks, average length {self.avgdl}"


def _default_scopes() -> list[str]:
    return ["search", "ask"]


class ApiToken(models.Model):
    """A bearer token for the APIs; only its SHA-256 is stored, the key is shown once."""

    SCOPES = ("search", "ask", "documents")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(
        default=_default_scopes,
        help_text="search, ask, documents (upload and manage, staff only).",
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} · {self.name or 'token'}"
