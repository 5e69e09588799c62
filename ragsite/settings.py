"""Settings read from the environment; importing this module starts nothing.

Every variable is listed in `.env.example`. `python -m ragsite.run` starts the embedded
PostgreSQL and Redis and passes their URLs in; a deployment passes its own.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ragsite.redis_urls import celery_broker_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for a throw-away development key).")
    SECRET_KEY = "insecure-development-key-only-used-with-debug"  # noqa: S105

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "axes",
    "ninja",  # the APIs' schema and docs page, its assets served from here (no CDN)
    "knowledge",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ragsite.middleware.content_security_policy",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the page saying so
]

ROOT_URLCONF = "ragsite.urls"
ASGI_APPLICATION = "ragsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgresql://postgres@localhost:5432/ragsite"),
        # Kept open: a connection costs the web process ~3 ms of CPU and PostgreSQL a backend
        # to start, and an answer makes several calls from several threads (README, "Sizing").
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
# How often a worker looks for uploads that found the task queue away (and queues them).
QUEUE_SWEEP_S = float(os.environ.get("QUEUE_SWEEP_S", "30"))
# An ingestion with no sign of life for this long is queued again (a progress batch of a big file takes seconds).
INGEST_STALE_S = float(os.environ.get("INGEST_STALE_S", "300"))
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 3)  # then the document fails with the reason in words
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker died unacknowledged is delivered again after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 10),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes), for the login page, the admin's and API tokens (knowledge.tokens):
# after LOGIN_FAILURE_LIMIT wrong passwords for one user name from one address, that pair waits
# LOGIN_COOLOFF_MINUTES. By the pair, so that nobody elsewhere can lock a colleague out. An
# administrator unlocks early under Axes > Access attempts, or `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "ragsite.lockout.lockout_response"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Uploads are HR documents: readable by the service's own user only, not by every account on the host.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
# Office files are ZIP archives: refuse those that unpack past these limits (decompression bombs).
MAX_UNPACKED_BYTES = env_int("MAX_UNPACKED_BYTES", 200 * 1024 * 1024)
MAX_ARCHIVE_MEMBERS = env_int("MAX_ARCHIVE_MEMBERS", 5000)
MAX_TABLE_ROWS = env_int("MAX_TABLE_ROWS", 50_000)
# Which library reads a PDF's text layer: pdfminer (default), pypdfium2 or pypdf (knowledge/parsing/pdf.py).
PDF_TEXT_ENGINE = os.environ.get("PDF_TEXT_ENGINE", "pdfminer")
if PDF_TEXT_ENGINE not in ("pdfminer", "pypdfium2", "pypdf"):
    raise ImproperlyConfigured(f"PDF_TEXT_ENGINE must be pdfminer, pypdfium2 or pypdf, not {PDF_TEXT_ENGINE!r}")
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES

# Production behind TLS: HTTPS=1 turns on secure cookies, HSTS and the redirect to https.
HTTPS = env_bool("HTTPS")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("TRUST_X_FORWARDED_PROTO"):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Retrieval and chunking
# Small batches waste less on padding: measured on 2 cores, 8 embeds a document's chunks
# about 25% faster than 32 (chunks of one document vary widely in length).
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 8)
# Tuned embedding models (`finetune_embeddings`), one folder each; every web and worker process reads it.
EMBEDDING_MODELS_DIR = Path(os.environ.get("EMBEDDING_MODELS_DIR", VAR_DIR / "models"))
# "onnx" (default): the same model on ONNX Runtime, exported on first use (identical vectors to
# 1e-6, ~2.5x faster per question); "onnx-int8": quantised (faster, lower quality; README,
# "Sizing"); "torch": PyTorch, as sentence-transformers runs it.
EMBEDDING_BACKEND = os.environ.get("EMBEDDING_BACKEND", "onnx")
if EMBEDDING_BACKEND not in ("onnx", "onnx-int8", "torch"):
    raise ImproperlyConfigured(f"EMBEDDING_BACKEND must be onnx, onnx-int8 or torch, not {EMBEDDING_BACKEND!r}")
EMBEDDING_ONNX_DIR = Path(os.environ.get("EMBEDDING_ONNX_DIR", VAR_DIR / "onnx"))
# Activating a model re-embeds this many chunks per worker task.
EMBEDDING_BUILD_BATCH = env_int("EMBEDDING_BUILD_BATCH", 256)
CHUNK_MAX_TOKENS = env_int("CHUNK_MAX_TOKENS", 200)
CHUNK_OVERLAP_TOKENS = env_int("CHUNK_OVERLAP_TOKENS", 32)
RETRIEVAL_TOP_K = env_int("RETRIEVAL_TOP_K", 4)
RETRIEVAL_DENSE = env_bool("RETRIEVAL_DENSE", True)
RETRIEVAL_LEXICAL = env_bool("RETRIEVAL_LEXICAL", True)
# Fusion: the cosine similarity's share in hybrid ranking (BM25 over the best BM25 has the rest).
# `evaluate_retrieval --calibrate` chooses it on a labelled set; 0.85 is the weight at which hybrid is
# at least as good as either stage alone on all three sets we have (demo handbook, HR sample,
# SciFact; README, "Evaluating retrieval").
RETRIEVAL_DENSE_WEIGHT = float(os.environ.get("RETRIEVAL_DENSE_WEIGHT", "0.85"))
RETRIEVAL_CANDIDATES = env_int("RETRIEVAL_CANDIDATES", 50)
RETRIEVAL_DEDUPE = env_bool("RETRIEVAL_DEDUPE", True)
RETRIEVAL_MMR_WEIGHT = float(os.environ.get("RETRIEVAL_MMR_WEIGHT", "0"))
# Lexical candidates: chunks with a term found in at most this share of chunks (or this many);
# commoner terms still score them (knowledge/retrieval/lexical.py).
LEXICAL_SELECTIVE_SHARE = float(os.environ.get("LEXICAL_SELECTIVE_SHARE", "0.02"))
LEXICAL_SELECTIVE_MIN = env_int("LEXICAL_SELECTIVE_MIN", 100)
# BM25 (knowledge/bm25.py): changing one rewrites every chunk's stored weights at the next ingestion
# or with `make manage ARGS="lexical_index --refresh"`. Heading words count this many times.
LEXICAL_BM25_K1 = float(os.environ.get("LEXICAL_BM25_K1", "1.2"))
LEXICAL_BM25_B = float(os.environ.get("LEXICAL_BM25_B", "0.75"))
LEXICAL_HEADING_WEIGHT = float(os.environ.get("LEXICAL_HEADING_WEIGHT", "1.0"))
LEXICAL_REFRESH_DRIFT = float(os.environ.get("LEXICAL_REFRESH_DRIFT", "0.05"))
RETRIEVAL_EXACT_MAX_CHUNKS = env_int("RETRIEVAL_EXACT_MAX_CHUNKS", 5000)
HNSW_EF_SEARCH = env_int("HNSW_EF_SEARCH", 100)
HNSW_MAX_SCAN_TUPLES = env_int("HNSW_MAX_SCAN_TUPLES", 50_000)
RERANKER_MODEL_PATH = os.environ.get("RERANKER_MODEL_PATH", "")
# Passages less similar than this (unless they share an acronym with the question) are not
# given to the model; with none left, the answer says the documents do not cover the question.
# Calibrated with `evaluate_answers demo/eval/handbook-answers.jsonl --calibrate`.
# Since answers are chosen sentence by sentence (chat/extraction.py, EVIDENCE_MIN_SCORE decides
# whether anything answers), this floor only keeps clearly unrelated passages out: 0.3.
RETRIEVAL_MIN_SCORE = float(os.environ.get("RETRIEVAL_MIN_SCORE", "0.3"))
# "extractive": answers are the documents' own sentences that answer; "generative": the language
# model writes and each sentence is checked before it is shown; "auto": generative with a
# configured LLM_BASE_URL, extractive with the embedded model (measured: README, "Answers").
ANSWER_MODE = os.environ.get("ANSWER_MODE", "auto")
if ANSWER_MODE not in {"auto", "extractive", "generative"}:
    raise ImproperlyConfigured("ANSWER_MODE must be auto, extractive or generative.")
# Two sentences of documents in force together that state different figures are a conflict
# when they share this much of their words and their embeddings are this close (cosine);
# calibrated in knowledge/conflicts.py.
CONFLICT_MIN_WORD_OVERLAP = float(os.environ.get("CONFLICT_MIN_WORD_OVERLAP", "0.5"))
CONFLICT_MIN_SIMILARITY = float(os.environ.get("CONFLICT_MIN_SIMILARITY", "0.65"))

# Generation: an OpenAI-compatible server when LLM_BASE_URL is set, else the embedded model.
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "")
LLM_MODEL = os.environ.get("LLM_MODEL", "")
LLM_API_KEY = os.environ.get("LLM_API_KEY", "")
LLM_TIMEOUT_S = float(os.environ.get("LLM_TIMEOUT_S", "60"))
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 200)
LLM_CONTEXT_TOKENS = env_int("LLM_CONTEXT_TOKENS", 8192)  # the server's context window; the embedded model has 4096
CHAT_MAX_QUESTION_CHARS = env_int("CHAT_MAX_QUESTION_CHARS", 2000)
CHAT_FRAMES_PER_MINUTE = env_int("CHAT_FRAMES_PER_MINUTE", 30)
CHAT_SESSION_RECHECK_S = float(os.environ.get("CHAT_SESSION_RECHECK_S", "60"))  # open sockets reread their session
CHAT_SOCKETS_PER_USER = env_int("CHAT_SOCKETS_PER_USER", 10)  # open chat windows per person, all processes
API_ASKS_PER_MINUTE = env_int("API_ASKS_PER_MINUTE", 30)  # /api/ask and /v1/chat/completions, per token
SEARCH_REQUESTS_PER_MINUTE = env_int("SEARCH_REQUESTS_PER_MINUTE", 30)  # search page and API, per user and token
# Members of this group read every imported personal record and the audit log (if also staff).
HR_GROUP = os.environ.get("HR_GROUP", "hr")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # axes logs every login at INFO; failures and lockouts are WARNING
    "loggers": {"httpx": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
