"""Django settings for a user's own site served with chanbench's ``layer`` key: the
user's settings module (``CHANBENCH_USER_SETTINGS``), its ``CHANNEL_LAYERS`` replaced by
the layer the harness built (``CHANBENCH_SITE_LAYER``, JSON).

Imported by the server process as its ``DJANGO_SETTINGS_MODULE``; it imports nothing but
the standard library and the user's settings, so any environment's Python can run it.
"""

import importlib
import json
import os

_user = importlib.import_module(os.environ["CHANBENCH_USER_SETTINGS"])
globals().update({name: value for name, value in vars(_user).items() if name.isupper()})
CHANNEL_LAYERS = {"default": json.loads(os.environ["CHANBENCH_SITE_LAYER"])}
