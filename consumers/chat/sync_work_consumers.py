# The tutorial's sync ChatConsumer (part 2), doing real work before each broadcast.
# Each class here has a twin in async_work_consumers.py; `diff` shows the rewrite.
import json
import time

from .models import Message
from .sync_consumer import ChatConsumer
from .work import WORK_MS, burn_cpu


class OrmConsumer(ChatConsumer):
    # Save the message with the Django ORM
    def save_message(self, message):
        Message.objects.create(
            room=self.room_name, sender=self.channel_name, text=message
        )

    def receive(self, text_data):
        self.save_message(json.loads(text_data)['message'])
        super().receive(text_data)


class BlockingConsumer(ChatConsumer):
    # Call a slow service with a blocking client library
    def call_service(self):
        time.sleep(WORK_MS / 1000)

    def receive(self, text_data):
        self.call_service()
        super().receive(text_data)


class CpuConsumer(ChatConsumer):
    def receive(self, text_data):
        burn_cpu()
        super().receive(text_data)
