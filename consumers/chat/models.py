"""The one model of the database workloads: a chat message, saved before its broadcast."""

from django.db import models


class Message(models.Model):
    room = models.CharField(max_length=100)
    sender = models.CharField(max_length=200)
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
