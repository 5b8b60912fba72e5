"""A user's own Django project, served in place of chanbench's chat site (``--site DIR``,
or ``site = "DIR"`` in a scenario): where it is, its settings module and its ASGI
application, found the way Django finds them, each missing piece one line saying what to
give.

The settings module is ``--settings``, else the one ``manage.py`` sets
(``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)``); the application is
``--asgi``, else the settings' ``ASGI_APPLICATION`` (as Daphne's ``runserver`` reads it).
Both are read from the files as text: nothing of the user's code runs in chanbench's
process. The site keeps its own ``CHANNEL_LAYERS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.results.record import Record

_SETTINGS_IN_MANAGE = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""")
_ASGI_IN_SETTINGS = re.compile(r"""^ASGI_APPLICATION\s*=\s*['"]([\w.]+)['"]""", re.MULTILINE)


@dataclass(frozen=True)
class OwnSite(Record):
    """A user's project as served: its folder (absolute), settings module, and ASGI
    application as ``module:attribute``."""

    dir: str = ""
    settings: str = ""
    asgi: str = ""


def find(folder: str, asgi: str | None = None, settings: str | None = None) -> OwnSite:
    """The project in ``folder`` with its settings and application, found or given."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"--site {folder}: no such folder; give your Django project's folder")
    settings = settings or _settings_from_manage(root)
    if asgi is None:
        asgi = _asgi_from_settings(root, settings)
    module, sep, attribute = asgi.partition(":")
    if not sep or not module or not attribute:
        raise UserError(f"--asgi {asgi!r}: give module:application, e.g. mysite.asgi:application")
    return OwnSite(str(root), settings, asgi)


def _settings_from_manage(root: Path) -> str:
    manage = root / "manage.py"
    found = _SETTINGS_IN_MANAGE.search(manage.read_text()) if manage.is_file() else None
    if found is None:
        raise UserError(
            f"--site {root}: no manage.py naming DJANGO_SETTINGS_MODULE there; "
            "give --settings mysite.settings"
        )
    return found.group(1)


def _asgi_from_settings(root: Path, settings: str) -> str:
    path = root.joinpath(*settings.split(".")).with_suffix(".py")
    if not path.is_file():
        path = root.joinpath(*settings.split("."), "__init__.py")
    found = _ASGI_IN_SETTINGS.search(path.read_text()) if path.is_file() else None
    if found is None:
        raise UserError(
            f"--site {root}: settings {settings} set no ASGI_APPLICATION that chanbench can "
            "read; give --asgi mysite.asgi:application"
        )
    module, _, attribute = found.group(1).rpartition(".")
    return f"{module}:{attribute}"
