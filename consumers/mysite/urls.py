import os

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("chat/", include("chat.urls")),
    path("admin/", admin.site.urls),
]

# Churn runs read the server's own counters between cycles (chat/probe.py).
if os.environ.get("CHANBENCH_PROBE") == "1":
    from chat import probe

    urlpatterns.append(path("_chanbench/probe/", probe.counters))
