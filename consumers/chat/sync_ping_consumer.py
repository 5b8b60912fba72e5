"""A JSON request/reply consumer, synchronous: Channels' generic JsonWebsocketConsumer.

Each ``{"type": "ping", "id": ...}`` is answered to its sender alone with
``{"type": "pong", "id": ...}``: no group, no channel layer, so sync against async here
measures the consumers and the server, not the layer. A greeting on connect answers
nothing, as real sites' frames often do. Its async twin has the same methods in the
same order (``async_ping_consumer.py``).
"""

from channels.generic.websocket import JsonWebsocketConsumer


class PingConsumer(JsonWebsocketConsumer):
    def connect(self):
        self.accept()
        self.send_json({"type": "hello"})

    def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            self.send_json({"type": "pong", "id": content.get("id")})
