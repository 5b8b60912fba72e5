# The tutorial's async ChatConsumer (part 3), doing real work before each broadcast.
# Each class here has a twin in sync_work_consumers.py; `diff` shows the rewrite.
import asyncio
import json
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from .async_consumer import ChatConsumer
from .models import Message
from .work import INSERT, WORK_MS, burn_cpu, native_pool


class OrmConsumer(ChatConsumer):
    # Save the message with the Django ORM
    @database_sync_to_async
    def save_message(self, message):
        Message.objects.create(
            room=self.room_name, sender=self.channel_name, text=message
        )

    async def receive(self, text_data):
        await self.save_message(json.loads(text_data)['message'])
        await super().receive(text_data)


class BlockingConsumer(ChatConsumer):
    # Call a slow service with a blocking client library
    @sync_to_async
    def call_service(self):
        time.sleep(WORK_MS / 1000)

    async def receive(self, text_data):
        await self.call_service()
        await super().receive(text_data)


class CpuConsumer(ChatConsumer):
    async def receive(self, text_data):
        burn_cpu()
        await super().receive(text_data)


# The async-native twins: the same work through async libraries, no thread hop.


class OrmNativeConsumer(OrmConsumer):
    # Save the message with psycopg's async pool
    async def save_message(self, message):
        pool = await native_pool()
        async with pool.connection() as conn:
            await conn.execute(INSERT, (self.room_name, self.channel_name, message))


class OrmAcreateConsumer(OrmConsumer):
    # Save the message with Django's async ORM API (a sync_to_async hop underneath)
    async def save_message(self, message):
        await Message.objects.acreate(
            room=self.room_name, sender=self.channel_name, text=message
        )


class BlockingNativeConsumer(BlockingConsumer):
    # Call the slow service with an async client library
    async def call_service(self):
        await asyncio.sleep(WORK_MS / 1000)
