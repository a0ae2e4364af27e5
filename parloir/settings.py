"""Django settings for parloir. Configuration comes only from the environment.

See docs/configuration.md for every variable.
"""

import os
from pathlib import Path

import dj_database_url

from parloir import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.get("PARLOIR_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env.flag("PARLOIR_DEBUG", default=False)
# Server events checked against their schemas as they are sent (parloir/events.py): in
# development and in the tests; frames from browsers are always checked.
CHECK_EVENT_SCHEMAS = env.flag("PARLOIR_CHECK_EVENT_SCHEMAS", default=DEBUG)
# Production is anything not explicitly in debug mode: there, missing secrets stop startup.
SECRET_KEY = env.secret(
    "PARLOIR_SECRET_KEY", required=not DEBUG, dev_default="insecure-development-key-only"
)

ALLOWED_HOSTS = (env.get("PARLOIR_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]") or "").split(",")
CSRF_TRUSTED_ORIGINS = [
    origin for origin in (env.get("PARLOIR_CSRF_TRUSTED_ORIGINS", "") or "").split(",") if origin
]
SITE_URL = env.get("PARLOIR_SITE_URL", "http://localhost:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "audit",
    "establishments",
    "people",
    "notify",
    "bookings",
    "media",
    "calls",
    "recordings",
    "ops",
    "privacy",
    "www",
]

# Reverse proxies whose X-Forwarded-For names the client (addresses or networks, commas).
TRUSTED_PROXIES = env.networks("PARLOIR_TRUSTED_PROXIES")

MIDDLEWARE = [
    # First: it counts every answer, the refusals of the middlewares below included.
    "ops.middleware.HttpMetricsMiddleware",
    "parloir.proxy.ForwardedClientMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "www.console.auth.SecondFactorRequired",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "parloir.urls"
ASGI_APPLICATION = "parloir.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Both hold a password: like the other secrets, they may come from a file (_FILE).
DATABASE_URL = env.secret("DATABASE_URL", required=False)
SQLITE_OPTIONS = {
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the write
    # lock at BEGIN, so concurrent writers queue (up to the timeout) instead of failing
    # when a read transaction tries to upgrade.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
# PostgreSQL through a pool of connections per process (Django's psycopg pool): an HTTP
# request runs in a thread of its own, which without a pool opened (and PostgreSQL
# forked) a new connection for every request. PARLOIR_DB_POOL_SIZE=0 turns it off.
DB_POOL_SIZE = env.integer("PARLOIR_DB_POOL_SIZE", 8)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them instead
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_SIZE,
            # A request that cannot get a connection within this fails rather than hangs.
            "timeout": 10,
        }
        # Each connection is tried as it leaves the pool: after a PostgreSQL restart the
        # pooled ones are dead, and the first requests (a relative's hang-up) would fail.
        # Tried without a round trip unless its socket says the server closed it: Django's
        # backend with that check (parloir/postgresql, parloir/db.py).
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"]["ENGINE"] = "parloir.postgresql"
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.get("PARLOIR_SQLITE_PATH", str(VAR_DIR / "parloir.sqlite3")),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.secret("REDIS_URL", required=False)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # A socket's channel is read with BZPOPMIN, which Redis answers after 5 s
                # when nothing came (channels_redis's brpop_timeout); redis-py 8 gives up
                # on any read after 5 s by default. The two raced, and on a loaded host the
                # client lost: the socket's consumer died with a TimeoutError (a dozen a
                # minute per web host in bench_multihost and the multi-host tests).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env.get("PARLOIR_REDIS_PREFIX", "parloir"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Without Redis, events cannot cross processes: the workers then run inside the web process
# (parloir/background.py). Set to 0 when they run as separate processes with Redis.
IN_PROCESS_WORKERS = env.flag("PARLOIR_IN_PROCESS_WORKERS", default=not REDIS_URL)

AUTH_USER_MODEL = "people.StaffUser"
LOGIN_URL = "console:login"
OTP_TOTP_ISSUER = "parloir"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "fr"
# The portal, the kiosk and the messages to relatives speak all of these; the staff's
# admin and console are translated into English only. Names are each language's own,
# never translated. Adding one: docs/i18n.md.
LANGUAGES = [
    ("fr", "Français"),
    ("en", "English"),
    ("es", "Español"),
    ("pt", "Português"),
    ("it", "Italiano"),
    ("de", "Deutsch"),
    ("ar", "العربية"),
    ("ro", "Română"),
    ("tr", "Türkçe"),
    ("ru", "Русский"),
    ("pl", "Polski"),
    ("nl", "Nederlands"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/Paris"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.flag("PARLOIR_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
# A kiosk is shared: a signed-in detainee is signed out after this much inactivity. The
# call page keeps the session alive while it is open (kiosk:keep_alive).
KIOSK_IDLE_SECONDS = env.integer("PARLOIR_KIOSK_IDLE_SECONDS", 10 * 60)

# Notifications (see notify/ and docs/notifications.md). The outbox is the embedded
# default backend; SMS and voice calls each choose theirs. Secrets are checked where
# they are used (notify/checks.py), so processes that never send start without them.
NOTIFY_BACKEND = env.get("PARLOIR_NOTIFY_BACKEND", "outbox")
OUTBOX_PATH = Path(env.get("PARLOIR_OUTBOX_PATH", str(VAR_DIR / "outbox.jsonl")))
SMS_BACKEND = env.get("PARLOIR_SMS_BACKEND", NOTIFY_BACKEND)
VOICE_BACKEND = env.get("PARLOIR_VOICE_BACKEND", NOTIFY_BACKEND)
SMS_SENDER = env.get("PARLOIR_SMS_SENDER", "parloir")
NOTIFY_MAX_ATTEMPTS = env.integer("PARLOIR_NOTIFY_MAX_ATTEMPTS", 3)
NOTIFY_RETRY_SECONDS = env.integer("PARLOIR_NOTIFY_RETRY_SECONDS", 5)
NOTIFY_POLL_MS = env.integer("PARLOIR_NOTIFY_POLL_MS", 500)
NOTIFY_CONCURRENCY = env.integer("PARLOIR_NOTIFY_CONCURRENCY", 8)
SMS_DLR_WAIT_SECONDS = env.integer("PARLOIR_SMS_DLR_WAIT_SECONDS", 90)
KANNEL_SENDSMS_URL = env.get("PARLOIR_KANNEL_SENDSMS_URL", "http://127.0.0.1:13013/cgi-bin/sendsms")
KANNEL_USERNAME = env.get("PARLOIR_KANNEL_USERNAME", "parloir")
KANNEL_PASSWORD = env.secret("PARLOIR_KANNEL_PASSWORD", required=False)
KANNEL_DLR_TOKEN = env.secret("PARLOIR_KANNEL_DLR_TOKEN", required=False)
KANNEL_DLR_BASE_URL = env.get("PARLOIR_KANNEL_DLR_BASE_URL", SITE_URL)
KANNEL_SMSC_ID = env.get("PARLOIR_KANNEL_SMSC_ID", "")
KANNEL_MANAGED = env.flag("PARLOIR_KANNEL_MANAGED", default=False)
KANNEL_SMSC = env.get("PARLOIR_KANNEL_SMSC", "smpp")
KANNEL_SMSC_HOST = env.get("PARLOIR_KANNEL_SMSC_HOST", "")
KANNEL_SMSC_PORT = env.integer("PARLOIR_KANNEL_SMSC_PORT", 2775)
KANNEL_SMSC_USERNAME = env.get("PARLOIR_KANNEL_SMSC_USERNAME", "")
KANNEL_SMSC_PASSWORD = env.secret("PARLOIR_KANNEL_SMSC_PASSWORD", required=False)
KANNEL_SMSC_SYSTEM_TYPE = env.get("PARLOIR_KANNEL_SMSC_SYSTEM_TYPE", "")
KANNEL_PORT_BASE = env.integer("PARLOIR_KANNEL_PORT_BASE", 13000)
SMPP_HOST = env.get("PARLOIR_SMPP_HOST", "")
SMPP_PORT = env.integer("PARLOIR_SMPP_PORT", 2775)
SMPP_SYSTEM_ID = env.get("PARLOIR_SMPP_SYSTEM_ID", "")
SMPP_PASSWORD = env.secret("PARLOIR_SMPP_PASSWORD", required=False)
SMPP_SYSTEM_TYPE = env.get("PARLOIR_SMPP_SYSTEM_TYPE", "")
SMPP_MAX_PER_SECOND = env.integer("PARLOIR_SMPP_MAX_PER_SECOND", 10)
SMPP_ENQUIRE_SECONDS = env.integer("PARLOIR_SMPP_ENQUIRE_SECONDS", 30)
SIP_PROXY = env.get("PARLOIR_SIP_PROXY", "")
SIP_DOMAIN = env.get("PARLOIR_SIP_DOMAIN", "")
SIP_URI_TEMPLATE = env.get("PARLOIR_SIP_URI_TEMPLATE", "sip:{number}@{domain}")
SIP_USERNAME = env.get("PARLOIR_SIP_USERNAME", "")
SIP_PASSWORD = env.secret("PARLOIR_SIP_PASSWORD", required=False)
SIP_FROM_USER = env.get("PARLOIR_SIP_FROM_USER", "parloir")
SIP_LOCAL_IP = env.get("PARLOIR_SIP_LOCAL_IP", "")
SIP_PUBLIC_IP = env.get("PARLOIR_SIP_PUBLIC_IP", "")
SIP_RTP_PORTS = env.get("PARLOIR_SIP_RTP_PORTS", "31000-31999")
SIP_RING_SECONDS = env.integer("PARLOIR_SIP_RING_SECONDS", 40)
SIP_MAX_CALLS = env.integer("PARLOIR_SIP_MAX_CALLS", 4)
# A voice call reads its message (which says the code twice) this many times, then offers
# it again on a key press (RFC 4733 or SIP INFO keys; turn the offer off for a trunk that
# relays none, and read it more often instead), up to VOICE_MAX_READINGS in all.
VOICE_REPEAT = env.integer("PARLOIR_VOICE_REPEAT", 1)
VOICE_KEY_REPEAT = env.flag("PARLOIR_VOICE_KEY_REPEAT", default=True)
VOICE_KEY_WAIT_SECONDS = env.integer("PARLOIR_VOICE_KEY_WAIT_SECONDS", 8)
VOICE_MAX_READINGS = env.integer("PARLOIR_VOICE_MAX_READINGS", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No phone number, call link or code in any log line (parloir/logmask.py).
    "filters": {"redact": {"()": "parloir.logmask.RedactFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env.get("PARLOIR_LOG_LEVEL", "INFO")},
}

# --- Media plane (media/): Janus nodes and TURN. See docs/media.md and
# docs/configuration.md. The secrets are checked where they are used and by
# `manage.py check --deploy` (media/checks.py) rather than here, so that processes
# that never touch media (and the test suite) start without them.
JANUS_ADMIN_SECRET = env.secret(
    "PARLOIR_JANUS_ADMIN_SECRET",
    required=False,
    dev_default="dev-janus-admin-secret" if DEBUG else None,
)
JANUS_ROOM_ADMIN_KEY = env.secret(
    "PARLOIR_JANUS_ROOM_ADMIN_KEY",
    required=False,
    dev_default="dev-janus-room-admin-key" if DEBUG else None,
)
JANUS_API_SECRET = env.secret("PARLOIR_JANUS_API_SECRET", required=False)
# The CA that signed the media nodes' certificates (wss:// nodes); the system's if unset.
JANUS_CA_FILE = env.get("PARLOIR_JANUS_CA_FILE", "")
JANUS_ICE_ENFORCE_LIST = env.get("PARLOIR_JANUS_ICE_ENFORCE_LIST", "")
JANUS_NAT_1_1_MAPPING = env.get("PARLOIR_JANUS_NAT_1_1_MAPPING", "")
JANUS_INTERFACE = env.get("PARLOIR_JANUS_INTERFACE", "")
JANUS_RTP_PORT_RANGE = env.get("PARLOIR_JANUS_RTP_PORT_RANGE", "20000-40000")
JANUS_LIB_DIR = env.get("PARLOIR_JANUS_LIB_DIR", "")
JANUS_SESSION_TIMEOUT = env.integer("PARLOIR_JANUS_SESSION_TIMEOUT", 60)
JANUS_RECLAIM_TIMEOUT = env.integer("PARLOIR_JANUS_RECLAIM_TIMEOUT", 120)
# Janus's media threads (see media.janus.Session.attach): one per core by default.
JANUS_EVENT_LOOPS = env.integer("PARLOIR_JANUS_EVENT_LOOPS", os.cpu_count() or 1)
JANUS_REQUEST_TIMEOUT = env.integer("PARLOIR_JANUS_REQUEST_TIMEOUT", 10)
# With a ping every 0.25 s on a standing admin connection: a failure is noticed within 2 s.
MEDIA_DOWN_AFTER_SECONDS = env.number("PARLOIR_MEDIA_DOWN_AFTER_SECONDS", 1.5)
MEDIA_NODE_STALE_SECONDS = env.integer("PARLOIR_MEDIA_NODE_STALE_SECONDS", 15)
# A node down this long has lost its rooms for good: its calls' recordings go ahead
# with the files it had shipped.
MEDIA_ROOM_GIVE_UP_SECONDS = env.integer("PARLOIR_MEDIA_ROOM_GIVE_UP_SECONDS", 600)
# Seconds lost to platform faults that could not be given back: from this many on, the
# detainee is offered a make-up call.
MAKEUP_MIN_LOST_SECONDS = env.integer("PARLOIR_MAKEUP_MIN_LOST_SECONDS", 60)
# How many relatives the call layer (codes, consents, signaling, recording) takes in one
# call. Not read from the environment on purpose: it states what the code does, and a
# booking naming more contacts than a call reaches would tell relatives of a call they
# never get a code for (docs/bookings.md "Several contacts", docs/signaling.md "Several
# relatives"). Each establishment chooses its own number up to this.
CALL_RELATIVES_SUPPORTED = 4
# In a call of several relatives, the most a relative's video may take (bit/s, Janus's
# REMB): each is a small tile on the others' screens, and Janus forwards it N - 1 times.
GROUP_RELATIVE_VIDEO_BITRATE = env.integer("PARLOIR_GROUP_RELATIVE_VIDEO_BITRATE", 128_000)
TURN_SECRET = env.secret("PARLOIR_TURN_SECRET", required=False)
TURN_URLS = [url for url in (env.get("PARLOIR_TURN_URLS", "") or "").split(",") if url]
TURN_TTL_SECONDS = env.integer("PARLOIR_TURN_TTL_SECONDS", 7200)
TURN_REALM = env.get("PARLOIR_TURN_REALM", "parloir")
TURN_PORT = env.integer("PARLOIR_TURN_PORT", 3478)
TURN_LISTENING_IP = env.get("PARLOIR_TURN_LISTENING_IP", "")
TURN_RELAY_IP = env.get("PARLOIR_TURN_RELAY_IP", "")
TURN_EXTERNAL_IP = env.get("PARLOIR_TURN_EXTERNAL_IP", "")
TURN_ALLOWED_PEER_IPS = [
    ip for ip in (env.get("PARLOIR_TURN_ALLOWED_PEER_IPS", "") or "").split(",") if ip
]
TURN_MIN_PORT = env.integer("PARLOIR_TURN_MIN_PORT", 49152)
TURN_MAX_PORT = env.integer("PARLOIR_TURN_MAX_PORT", 65535)
TURN_USERDB = env.get("PARLOIR_TURN_USERDB", str(VAR_DIR / "turn" / "turndb"))
TURN_TLS_CERT = env.get("PARLOIR_TURN_TLS_CERT", "")
TURN_TLS_KEY = env.get("PARLOIR_TURN_TLS_KEY", "")
TURN_TLS_PORT = env.integer("PARLOIR_TURN_TLS_PORT", 5349)

# --- Recordings (recordings/). See docs/recordings.md. Like the media secrets, the master
# key is checked where it is used and by `manage.py check --deploy` (recordings/checks.py):
# without it the recordings worker waits and leaves the Janus files in place.
RECORDINGS_DIR = Path(env.get("PARLOIR_RECORDINGS_DIR", str(VAR_DIR / "recordings")))
# Holds plaintext while a call is processed: keep it on the same protected volume (or tmpfs).
RECORDINGS_WORK_DIR = Path(env.get("PARLOIR_RECORDINGS_WORK_DIR", str(RECORDINGS_DIR / "work")))
# Where media hosts' agents put the sealed Janus files (nodes with ships_recordings): the
# same shared storage on every web host and media host (docs/deployment.md).
RECORDING_SOURCE_STORE = Path(
    env.get("PARLOIR_RECORDING_SOURCE_STORE", str(RECORDINGS_DIR / "sources"))
)
RECORDING_MASTER_KEY = env.secret(
    "PARLOIR_RECORDING_MASTER_KEY",
    required=False,
    dev_default="dev-recording-master-key-not-for-production" if DEBUG else None,
)
# Former master keys, separated by spaces, commas or new lines: only read, until
# `manage.py recordings_rotate_key` has re-wrapped every file key with the current one.
RECORDING_OLD_MASTER_KEYS = env.secret("PARLOIR_RECORDING_OLD_MASTER_KEYS", required=False)
# Signs destruction reports and export manifests (Ed25519); derived from the master key if unset.
RECORDING_SIGNING_KEY = env.secret("PARLOIR_RECORDING_SIGNING_KEY", required=False)
RECORDINGS_LEASE_SECONDS = env.integer("PARLOIR_RECORDINGS_LEASE_SECONDS", 300)
RECORDINGS_SETTLE_SECONDS = env.integer("PARLOIR_RECORDINGS_SETTLE_SECONDS", 5)
RECORDINGS_MAX_ATTEMPTS = env.integer("PARLOIR_RECORDINGS_MAX_ATTEMPTS", 3)
RECORDINGS_EXPORT_HOURS = env.integer("PARLOIR_RECORDINGS_EXPORT_HOURS", 24)
RECORDINGS_REPLAY_MINUTES = env.integer("PARLOIR_RECORDINGS_REPLAY_MINUTES", 120)
# How much lower the CPU priority of the recordings' tools (janus-pp-rec, ffmpeg) is than
# their worker's: a recording can wait a minute, a call being set up cannot. At the top
# of the hour the last slot's recordings are composed while the next slot's calls start.
RECORDINGS_NICE = env.integer("PARLOIR_RECORDINGS_NICE", 10)

# --- Security (docs/security.md). Every value here has a safe default in production.

# Codes typed without the SMS link, failing from all addresses together, in any hour:
# past this, typed entry closes until the hour calms down and staff are alerted.
# docs/calls.md shows why 100 keeps the odds of a guess below 1 in 10,000 a day.
CODE_TYPED_FAILURES_PER_HOUR = env.integer("PARLOIR_CODE_TYPED_FAILURES_PER_HOUR", 100)

# Staff sign-in: django-axes locks an account, and separately an address, after this
# many failed passwords, for this long; every lockout is audited (www/console/auth.py).
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AXES_FAILURE_LIMIT = env.integer("PARLOIR_STAFF_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = env.integer("PARLOIR_STAFF_LOCKOUT_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
# parloir.proxy has already put the client's own address in REMOTE_ADDR.
AXES_CLIENT_IP_CALLABLE = "www.console.auth.client_address"
AXES_LOCKOUT_CALLABLE = "www.console.auth.locked_out"
AXES_VERBOSE = False
# Sign-ins are audited by parloir; the lockouts table is read with `manage.py axes_list_attempts`
# and cleared with `manage.py axes_reset_username NAME` (docs/console.md).
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False

# Staff sessions: signed out after a working day, and after this long without a request.
STAFF_SESSION_MAX_SECONDS = env.integer("PARLOIR_STAFF_SESSION_MAX_SECONDS", 10 * 3600)
STAFF_SESSION_IDLE_SECONDS = env.integer("PARLOIR_STAFF_SESSION_IDLE_SECONDS", 30 * 60)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware"), "www.console.auth.StaffSessionLimits"
)

# Parameters no form can send (parloir/params.py): a 400, never a 500.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.csrf.CsrfViewMiddleware"), "parloir.params.RejectNulBytes"
)

# Content-Security-Policy and the other headers (parloir/headers.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "parloir.headers.ContentSecurityPolicy",
)
# HTTPS: HSTS, and the header through which the reverse proxy says the client used HTTPS
# (honoured only from PARLOIR_TRUSTED_PROXIES: parloir/proxy.py drops anyone else's).
SECURE_HSTS_SECONDS = env.integer("PARLOIR_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag("PARLOIR_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.flag("PARLOIR_HSTS_PRELOAD", default=False)
_proxy_ssl_header = env.get("PARLOIR_PROXY_SSL_HEADER", "" if DEBUG else "X-Forwarded-Proto")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
    if _proxy_ssl_header and _proxy_ssl_header.lower() != "off"
    else None
)
SECURE_SSL_REDIRECT = env.flag("PARLOIR_SSL_REDIRECT", default=False)
# The load balancer checks /livez over plain HTTP (deploy/haproxy): never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# The audit chain is keyed (HMAC) with a secret the database never holds, and its head
# is appended after each commit to a file outside the database (audit/anchor.py).
AUDIT_KEY = env.secret(
    "PARLOIR_AUDIT_KEY", required=not DEBUG, dev_default="dev-audit-key-not-for-production"
)
# Former keys, separated by spaces, commas or new lines: rows sealed with them still verify.
AUDIT_OLD_KEYS = env.secret("PARLOIR_AUDIT_OLD_KEYS", required=False)
AUDIT_ANCHOR_FILE = Path(env.get("PARLOIR_AUDIT_ANCHOR_FILE", str(VAR_DIR / "audit-anchors.log")))
# Also send each anchor to syslog: "/dev/log", or host:port for a remote collector (UDP).
AUDIT_ANCHOR_SYSLOG = env.get("PARLOIR_AUDIT_ANCHOR_SYSLOG", "")

# Metrics for Prometheus (docs/operations.md). /metrics answers clients in these networks
# (loopback by default) that did not come through a proxy, with the bearer token if set.
METRICS_ALLOWED_NETWORKS = env.networks("PARLOIR_METRICS_ALLOWED_NETWORKS") or [
    "127.0.0.0/8",
    "::1/128",
]
METRICS_TOKEN = env.secret("PARLOIR_METRICS_TOKEN", required=False)
# A worker (manage.py calls_worker, notify_worker, recordings_worker, media_health,
# stats_worker) serves its metrics on this port and address; 0: none (not exported).
METRICS_PORT = env.integer("PARLOIR_METRICS_PORT", 0)
METRICS_ADDR = env.get("PARLOIR_METRICS_ADDR", "127.0.0.1")
# The database part of /metrics is read at most this often per process.
METRICS_CACHE_SECONDS = env.number("PARLOIR_METRICS_CACHE_SECONDS", 5.0)

# Statistics (ops/rollup.py): how often the worker counts, and how many past days it
# counts again at every pass (calls end and codes are delivered after the fact).
STATS_INTERVAL_SECONDS = env.number("PARLOIR_STATS_INTERVAL_SECONDS", 300.0)
STATS_RECOUNT_DAYS = env.integer("PARLOIR_STATS_RECOUNT_DAYS", 2)

# --- Privacy (docs/privacy.md) -------------------------------------------------------------
# The audit chain is one for all establishments: its retention is set here, within the
# register's bounds (a trace of who saw what must outlive a complaint's time limits).
AUDIT_RETENTION_DAYS = env.integer("PARLOIR_AUDIT_RETENTION_DAYS", 365)
AUDIT_RETENTION_BOUNDS = (180, 1095)
if not AUDIT_RETENTION_BOUNDS[0] <= AUDIT_RETENTION_DAYS <= AUDIT_RETENTION_BOUNDS[1]:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"PARLOIR_AUDIT_RETENTION_DAYS must be between {AUDIT_RETENTION_BOUNDS[0]} and "
        f"{AUDIT_RETENTION_BOUNDS[1]}"
    )
