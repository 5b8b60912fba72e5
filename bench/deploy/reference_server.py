"""A minimal broadcast server with no Django and no Channels: the calibration reference.

It speaks the chat protocol the clients use (a text frame sent to ``/…/<room>/`` reaches
every member of that room) and forwards frames verbatim, on uvloop with picows, so it is
faster than the clients: a run against it measures the load generator's ceiling. It is
also the floor for the server side: what plain Python websockets do on this machine.

Run as ``python -m bench.deploy.reference_server --host 127.0.0.1 --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import defaultdict

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


class Room:
    def __init__(self) -> None:
        self.members: set[WSTransport] = set()


class BroadcastListener(WSListener):
    def __init__(self, room: Room) -> None:
        self.room = room

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.room.members.add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            for member in self.room.members:
                member.send(WSMsgType.TEXT, payload)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.room.members.discard(transport)


async def serve(host: str, port: int) -> None:
    rooms: defaultdict[str, Room] = defaultdict(Room)

    def listener_for(request: WSUpgradeRequest) -> WSListener:
        path = request.path.decode() if isinstance(request.path, bytes) else str(request.path)
        return BroadcastListener(rooms[path])

    server = await ws_create_server(listener_for, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
