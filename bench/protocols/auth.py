"""Connecting as a logged-in user, for sites behind Channels' ``AuthMiddlewareStack``: a
user and a session made in the site's own database, as its session cookie.

A protocol calls ``session_cookie(SITE)`` from its ``headers()``; the session is made
once per process (the runner's handshake check, then each client worker), by the site's
own ``manage.py shell`` with its own settings, so chanbench never imports the user's code.
The site's database must be migrated (``auth`` and ``sessions`` tables).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from bench.errors import UserError

# Django's start-up and two writes; a loaded machine may take several seconds.
SESSION_TIMEOUT_S = 60.0
# Run by the site's manage.py shell: the user made if missing, a session logged in as it.
_MAKE_SESSION = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
User = get_user_model()
user, _ = User.objects.get_or_create(**{User.USERNAME_FIELD: %r})
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = user._meta.pk.value_to_string(user)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.save()
print("COOKIE=" + settings.SESSION_COOKIE_NAME + "=" + store.session_key)
"""


@functools.cache
def session_cookie(
    site: str,
    username: str = "chanbench",
    settings: str | None = None,
    python: str = sys.executable,
) -> str:
    """``sessionid=...`` for ``username`` (made if missing) in the Django project at
    ``site``, under ``settings`` (default: the one its manage.py sets); a ``UserError``
    with manage.py's last line when it cannot be made."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    manage = Path(site) / "manage.py"
    if not manage.is_file():
        raise UserError(f"session_cookie: no manage.py in {site}; give your project's folder")
    try:
        done = subprocess.run(
            [python, "manage.py", "shell", "-c", _MAKE_SESSION % username],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
            timeout=SESSION_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"session_cookie: manage.py shell took over {SESSION_TIMEOUT_S:g} s"
        ) from None
    for line in done.stdout.splitlines():
        if line.startswith("COOKIE="):
            return line.removeprefix("COOKIE=")
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise UserError(f"session_cookie: could not make a session in {site}: {last}")
