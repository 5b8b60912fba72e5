"""Settings for the tutorial's chat site, as chanbench serves it.

Close to what ``django-admin startproject`` and the Channels tutorial give, with the
channel layer and a few serving options read from ``CHANBENCH_*`` environment variables.
"""

import importlib.util
import os
from pathlib import Path

from mysite.database import database_settings
from mysite.layers import channel_layer_settings

BASE_DIR = Path(__file__).resolve().parent.parent

# Not a secret: the site serves loopback benchmarks and local chats only.
SECRET_KEY = os.environ.get("CHANBENCH_SECRET_KEY", "chanbench-local-only-not-secret")
DEBUG = os.environ.get("CHANBENCH_DEBUG", "") == "1"
# Loopback, and the address chanbench's --bind/--advertise name for load from other hosts.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]
ALLOWED_HOSTS += os.environ.get("CHANBENCH_ALLOWED_HOSTS", "").split()

INSTALLED_APPS = [
    "daphne",
    "chat",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# A channel layer given by dotted path that is also a Django app (channels-postgres keeps
# its messages in tables of its own) is installed, so that migrate creates them.
_LAYER_APP = os.environ.get("CHANBENCH_LAYER_BACKEND", "").split(".")[0]
if (
    _LAYER_APP
    and importlib.util.find_spec(_LAYER_APP)
    and importlib.util.find_spec(f"{_LAYER_APP}.apps")
):
    INSTALLED_APPS.append(_LAYER_APP)

ROOT_URLCONF = "mysite.urls"

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

ASGI_APPLICATION = "mysite.asgi.application"
CHANNEL_LAYERS = {"default": channel_layer_settings(os.environ)}

DATABASES = {"default": database_settings(os.environ, BASE_DIR / "db.sqlite3")}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
