"""A JSON request/reply consumer, asynchronous: Channels' AsyncJsonWebsocketConsumer.

The twin of ``sync_ping_consumer.py``, method for method: each ping answered to its
sender alone, no group, a greeting on connect.
"""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class PingConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.accept()
        await self.send_json({"type": "hello"})

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "id": content.get("id")})
