"""Settings shared by every environment. Values come from the environment (django-environ)."""

from datetime import timedelta
from pathlib import Path

import environ
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is a convenience for local runs only; the environment always wins.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

INSTALLED_APPS = [
    # The Django admin asks operators for a second factor (django-otp's OTPAdminSite).
    "config.apps.OtpAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "django_celery_beat",
    "corsheaders",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # Single-use codes for operators' admin sign-in (`manage.py addstatictoken <username>`).
    "django_otp.plugins.otp_static",
    "axes",
    "simple_history",
    "config",
    "accounts",
    "outcomes",
    "notifications",
    "api",
]

MIDDLEWARE = [
    # First in, so the last to see every response (a 413 too): no cache keeps a copy.
    "api.caching.NoStoreMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Second: a body over AFTERGLOW_MAX_BODY_BYTES is refused (413, with CORS headers)
    # before anything reads it or looks up a session or token.
    "api.limits.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks a session verified by a second factor (request.user.is_verified()), which the
    # admin site requires. API requests carry tokens, not sessions: unaffected.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.middleware.AuditMiddleware",
    # Who changed a clinical record (django-simple-history reads the request's user, which
    # DRF's token authentication sets when the view runs).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: turns a lockout that axes flagged on the request into the API's JSON 429.
    "axes.middleware.AxesMiddleware",
]

# CORS is closed unless origins are named (the phone app is not a browser; a clinic web
# tool on another origin must be listed explicitly).
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# Per-device, revocable, hashed tokens: django-rest-knox's own model. (Not swapped: knox's
# migrations create their table regardless, which breaks flushing a test database.)
KNOX_TOKEN_MODEL = "knox.AuthToken"  # noqa: S105 - a model name, not a secret
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Axes first: it refuses a locked-out username+address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

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
            ]
        },
    }
]

# SQLite when DATABASE_URL is unset: the embedded default needs no server.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'afterglow.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default runs web, worker and beat as separate processes on one file:
    # WAL lets readers proceed during a write, IMMEDIATE takes the write lock up front.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Throttle counters must be shared by every web process: Redis in production.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# How many reverse proxies (load balancer, TLS terminator) append to X-Forwarded-For in front
# of this app. 0: clients connect directly and only REMOTE_ADDR counts. The sign-in throttle
# (NUM_PROXIES) and the lockout (accounts/lockout.py) both identify the client by it; set it too
# high and a client can choose its own address, too low and every client shares the proxy's.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Request limits (api/limits.py, api/parsers.py) ------------------------------------------
# The largest request body, in bytes: larger ones are refused with 413 before they are read.
# The largest legitimate body, a plan of 40 steps, is under 20 kB; 1 MB leaves room for
# growth while bounding what one request can make a worker hold.
AFTERGLOW_MAX_BODY_BYTES = env.int("AFTERGLOW_MAX_BODY_BYTES", default=1024 * 1024)
# Django's own limit for bodies it reads itself (request.body, forms) follows ours: its
# RequestDataTooBig surfaced as a 500 from inside DRF's parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = AFTERGLOW_MAX_BODY_BYTES

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with bounded nesting, key count and size, and strict Unicode.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "sign_in": env("THROTTLE_SIGN_IN", default="10/min"),
        "enrol": env("THROTTLE_ENROL", default="10/min"),
        "submission": env("THROTTLE_SUBMISSION", default="60/min"),
        "export": env("THROTTLE_EXPORT", default="30/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # We render JSON only; `format` is ours (charts take ?format=png|svg).
    "URL_FORMAT_OVERRIDE": None,
}

DRF_STANDARDIZED_ERRORS = {
    # Our domain errors become the standard ones (api/exceptions.py).
    "EXCEPTION_HANDLER_CLASS": "api.exceptions.ExceptionHandler",
    "ERROR_SCHEMAS": {
        "400": "api.openapi.ErrorResponse400Serializer",
        "429": "api.openapi.ErrorResponse429Serializer",  # adds `locked_out`
    },
    # One error shape for every 4xx and 5xx, not only for validation errors.
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "NESTED_FIELD_SEPARATOR": ".",
    "LIST_INDEX_IN_API_SCHEMA": True,
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": True,
    "AUTO_REFRESH_MAX_TTL": timedelta(days=env.int("TOKEN_MAX_TTL_DAYS", default=90)),
    "MIN_REFRESH_INTERVAL": 3600,
    "TOKEN_LIMIT_PER_USER": env.int("TOKEN_LIMIT_PER_USER", default=10),
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Afterglow API",
    "DESCRIPTION": (
        "How long each ketamine-infusion patient's benefit lasts: check-ins from the "
        "patient's phone, scores, and the clinic's view of them. Authenticate with "
        "`Authorization: Token <token>` from `/api/v1/auth/sign-in/` or `/api/v1/auth/enrol/`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CourseKindEnum": "outcomes.models.CourseKind",
        "AccountKindEnum": "api.serializers.AccountKind",
        "PatientStatusEnum": "outcomes.models.PatientStatus",
        "InfusionStatusEnum": "outcomes.models.InfusionStatus",
        "ReminderStatusEnum": "notifications.models.ReminderStatus",
        "ChannelEnum": "notifications.models.Channel",
        "AlertStatusEnum": "outcomes.models.AlertStatus",
        "ConditionEnum": "outcomes.models.Condition",
        "ReminderKindEnum": "notifications.models.ReminderKind",
        "AdverseSeverityEnum": "outcomes.models.AdverseSeverity",
        # `access` says what a staff member gets back, for a patient and for a tablet
        # check-in alike; the names the patient schemas gave these first, so that generated
        # clients keep their types.
        "PatientAccessEnum": ["clinical"],
        "PatientRecordAccessEnum": ["administrative"],
        "ValidationErrorEnum": (
            "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices"
        ),
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "api.openapi.ErrorCode429.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "api.openapi.anonymous_security",
    ],
}

# --- Accounts and security ---------------------------------------------------------------
# Brute-force lockout (django-axes). Locked per username *and* address: a per-username lock
# would let anyone who knows a clinician's username lock them out of the clinic by typing
# wrong passwords; per address alone would lock a whole clinic behind one NAT. Failed
# second factors count too (accounts/services/mfa.py). The lockout answers a JSON 429
# with Retry-After.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A lock lifts AXES_COOLOFF_TIME after it began: attempts while locked are refused, not
# counted, so a stranger cannot keep a clinician locked out by retrying.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# The client's address as the throttles see it (TRUSTED_PROXY_COUNT), not a proxy's.
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip_address"
# Failures are still recorded (and purged nightly once they no longer lock anyone); every
# successful sign-in's address and user agent is not kept.
AXES_DISABLE_ACCESS_LOG = True
# The second factor (django-otp TOTP): the challenge between the password and the code.
AFTERGLOW_MFA_CHALLENGE_TTL_SECONDS = env.int("AFTERGLOW_MFA_CHALLENGE_TTL_SECONDS", default=300)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Afterglow")
# A clinic admin's staff MFA enrolment code (accounts/services/mfa.py): how long it stays valid.
AFTERGLOW_STAFF_MFA_CODE_TTL_HOURS = env.int("AFTERGLOW_STAFF_MFA_CODE_TTL_HOURS", default=72)
# The admin never shows an authenticator's secret again once it is saved.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# History of clinical records (django-simple-history): public ids are UUIDs; no reverting
# a clinical record from the admin.
SIMPLE_HISTORY_HISTORY_ID_USE_UUID = True
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Celery -----------------------------------------------------------------------------
# Unset: the filesystem transport, which needs no server (the embedded default).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_FOLDER = env("CELERY_BROKER_FOLDER", default=str(BASE_DIR / ".celery-broker"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": CELERY_BROKER_FOLDER,
        "data_folder_out": CELERY_BROKER_FOLDER,
        "processed_folder": CELERY_BROKER_FOLDER + "/processed",
        # Exchange tables; kombu's default is ./control, beside the code.
        "control_folder": CELERY_BROKER_FOLDER + "/control",
        "store_processed": False,
    }
else:
    # How long an unacknowledged message (a worker died holding it) waits before another
    # worker gets it. The dispatcher never relies on it for reminders (rows are the truth),
    # but it bounds how long a send task can hide in a dead worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
# Messages carry ids only; JSON makes that visible and refuses pickled objects.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
# The beat's one-minute ticks have a queue of their own, which every worker consumes as
# well as the default one (no -Q needed): a tick then waits for at most one task per
# worker, not behind the whole backlog of sends that the previous ticks enqueued.
CELERY_TASK_QUEUES = (Queue("celery"), Queue("ticks"))
CELERY_TASK_ROUTES = {
    "notifications.dispatch_due": {"queue": "ticks"},
    "outcomes.alerts_escalate": {"queue": "ticks"},
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through Django's LOGGING, so the health-data filter covers them too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Afterglow --------------------------------------------------------------------------
# How far in the future a phone's answered_at may lie (clock skew), in seconds.
AFTERGLOW_ANSWERED_AT_MAX_SKEW_SECONDS = env.int(
    "AFTERGLOW_ANSWERED_AT_MAX_SKEW_SECONDS", default=300
)
AFTERGLOW_ENROLMENT_CODE_TTL_HOURS = env.int("AFTERGLOW_ENROLMENT_CODE_TTL_HOURS", default=72)
AFTERGLOW_INSTRUMENTS_DIR = BASE_DIR / "outcomes" / "instruments" / "definitions"
# How long a process keeps the active instrument versions it read (every submission needs
# them). A change in the same process is seen at once; in the others within this time.
AFTERGLOW_INSTRUMENT_CACHE_SECONDS = env.int("AFTERGLOW_INSTRUMENT_CACHE_SECONDS", default=60)
# Outcomes per treatment course (outcomes/selectors/courses.py). Infusions the clinic did
# not assign to a course are grouped: a gap longer than this starts a new course. An
# induction's infusions are 2-3 days apart; a rescue may come a week or two after it, and
# one folded into the induction would hide the relapse before it (relapse counts only
# after a course's last infusion).
AFTERGLOW_COURSE_GAP_DAYS = env.float("AFTERGLOW_COURSE_GAP_DAYS", default=10.0)
# A durability curve is drawn only when responders were assessed at least this often (in
# the median): a loss interval wider than a week spans a third of the published 18-day
# median (docs/clinical/INSTRUMENTS.md). Configurable: a judgement, not a published cut.
AFTERGLOW_DURABILITY_MAX_GAP_DAYS = env.float("AFTERGLOW_DURABILITY_MAX_GAP_DAYS", default=7.0)
# ...and only from an instrument whose recall window is at most this long: a 2-week-recall
# score lags a loss by about a week (docs/clinical/INSTRUMENTS.md; docs/BENCHMARKS.md,
# "Durability accuracy": +6.9 days, 0 coverage).
AFTERGLOW_DURABILITY_MAX_RECALL_DAYS = env.float(
    "AFTERGLOW_DURABILITY_MAX_RECALL_DAYS", default=7.0
)
# Bootstrap replicates behind the clinic curve's intervals.
AFTERGLOW_DURABILITY_BOOTSTRAP = env.int("AFTERGLOW_DURABILITY_BOOTSTRAP", default=200)

# Every handler carries the health-data filter: no answer or score reaches a log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_health_data": {"()": "config.logging.HealthDataFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["no_health_data"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Reminders and delivery ---------------------------------------------------------------
# Channel name -> implementation (notifications/channels/; a new channel is a module there
# and a line here). The embedded default prints. Messages that list channels (e.g. "sms or
# email." for a contact point's channel) list them in this order.
AFTERGLOW_CHANNELS = {
    "push": "notifications.channels.push.FcmChannel",
    "sms": "notifications.channels.sms.TwilioSmsChannel",
    "email": "notifications.channels.email.EmailChannel",
    "console": "notifications.channels.console.ConsoleChannel",
}
# Swap implementations without code, e.g. "console=tests.channels.RecordingChannel".
AFTERGLOW_CHANNELS.update(env.dict("AFTERGLOW_CHANNEL_OVERRIDES", default={}))
# Channels used when neither the patient nor the clinic chose any.
AFTERGLOW_DEFAULT_CHANNELS = env.list("AFTERGLOW_DEFAULT_CHANNELS", default=["push"])
# Never wait on a mail server longer than a delivery claim lives (STALE_CLAIM_SECONDS).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Channels for notices to staff (the care team).
AFTERGLOW_STAFF_CHANNELS = env.list("AFTERGLOW_STAFF_CHANNELS", default=["email"])
# Channels that also page staff, at once, for an urgent notice of a high-risk safety alert
# (INSTRUMENTS.md "Safety": an immediate page to on-call by phone or SMS): SMS to each
# recipient's pager number (User.pager_phone). One missing from AFTERGLOW_CHANNELS, or
# that cannot reach staff, is skipped; the staff channels still carry the notice.
AFTERGLOW_STAFF_PAGE_CHANNELS = env.list("AFTERGLOW_STAFF_PAGE_CHANNELS", default=["sms"])
# A service-account JSON (the text, or a path via AFTERGLOW_FCM_CREDENTIALS_FILE).
AFTERGLOW_FCM_CREDENTIALS = env("AFTERGLOW_FCM_CREDENTIALS", default="")
if not AFTERGLOW_FCM_CREDENTIALS and env("AFTERGLOW_FCM_CREDENTIALS_FILE", default=""):
    AFTERGLOW_FCM_CREDENTIALS = Path(env("AFTERGLOW_FCM_CREDENTIALS_FILE")).read_text()
AFTERGLOW_TWILIO_ACCOUNT_SID = env("AFTERGLOW_TWILIO_ACCOUNT_SID", default="")
AFTERGLOW_TWILIO_AUTH_TOKEN = env("AFTERGLOW_TWILIO_AUTH_TOKEN", default="")
AFTERGLOW_TWILIO_FROM = env("AFTERGLOW_TWILIO_FROM", default="")
AFTERGLOW_EMAIL_DOMAIN = env("AFTERGLOW_EMAIL_DOMAIN", default="afterglow.local")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Afterglow <no-reply@afterglow.local>")
# Dispatcher: rows claimed per transaction, and delivery ids per send task message.
AFTERGLOW_DISPATCH_BATCH = env.int("AFTERGLOW_DISPATCH_BATCH", default=500)
AFTERGLOW_SEND_CHUNK = env.int("AFTERGLOW_SEND_CHUNK", default=50)
AFTERGLOW_DELIVERY_MAX_ATTEMPTS = env.int("AFTERGLOW_DELIVERY_MAX_ATTEMPTS", default=6)
# Send outcomes commit without waiting for the disk flush; a PostgreSQL crash may then
# repeat the last second's sends, never lose one (notifications/services/delivery.py).
AFTERGLOW_SEND_ASYNC_COMMIT = env.bool("AFTERGLOW_SEND_ASYNC_COMMIT", default=True)
# A delivery claimed this long ago and never finished belongs to a dead worker.
AFTERGLOW_STALE_CLAIM_SECONDS = env.int("AFTERGLOW_STALE_CLAIM_SECONDS", default=300)
# A queued delivery nobody picked up this long (its message was lost) is enqueued again.
AFTERGLOW_REQUEUE_AFTER_SECONDS = env.int("AFTERGLOW_REQUEUE_AFTER_SECONDS", default=120)
