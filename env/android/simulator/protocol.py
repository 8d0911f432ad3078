"""The device side of the adb wire protocol over TCP, as adbd speaks it to ``adb connect``.

Every message is a 24-byte header (command, arg0, arg1, payload length, payload checksum, command
XOR 0xffffffff; little-endian u32s) and a payload. The host opens with CNXN; we answer CNXN with our
banner right away (no AUTH: this device trusts every host). Each OPEN starts a stream for a service
(``shell:``, ``shell,v2,...:``, ``exec:``, ``sync:``, ``framebuffer:``); we answer OKAY with our
stream id, or CLSE when we do not offer the service. Data flows in WRTE messages and every WRTE is
acknowledged with OKAY before the sender may send the next one on that stream (we do not offer
``delayed_ack``). Either side ends a stream with CLSE. Checksums are zero: since protocol version
0x01000001 neither side computes them.

One :class:`AdbConnection` per TCP connection (the adb server keeps one per device; other clients may
add their own), one asyncio task per stream, so a ``sleep 30`` on one stream never stalls another.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Any

from loguru import logger

from pixelpilot.env.android.simulator.device import Device
from pixelpilot.env.android.simulator.filesystem import error_text
from pixelpilot.env.android.simulator.screen import COLORSPACE_SRGB

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453
NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY", A_CLSE: "CLSE"}
NAMES |= {A_WRTE: "WRTE", A_STLS: "STLS"}

VERSION = 0x01000001
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024
#: Only what this device implements: a host uses a feature it sees here (e.g. sendrecv_v2 would make
#: a new adb push with SND2, which the sync service below does not speak).
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir", "fixed_push_symlink_timestamp")

# shell protocol v2 packet ids
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4

SYNC_DATA_MAX = 64 * 1024


class StreamClosed(Exception):
    """The host closed the stream (or the whole connection)."""


def banner(props: dict[str, str]) -> bytes:
    keys = ("ro.product.name", "ro.product.model", "ro.product.device")
    return ("device::" + "".join(f"{k}={props[k]};" for k in keys) + "features=" + ",".join(FEATURES)).encode()


class Stream:
    """One open service stream: our id, the host's id, flow control and the bytes the host sent."""

    def __init__(self, conn: AdbConnection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = False
        self.task: asyncio.Task[Any] | None = None
        self._ready = asyncio.Event()
        self._ready.set()
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = bytearray()

    async def write(self, data: bytes) -> None:
        step = self.conn.max_payload
        view = memoryview(data)
        for start in range(0, len(data), step):
            await self._ready.wait()
            if self.closed:
                raise StreamClosed
            self._ready.clear()
            self.conn.send(A_WRTE, self.local_id, self.remote_id, bytes(view[start : start + step]))
            await self.conn.drain()

    async def read_exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = await self._inbox.get()
            if chunk is None:
                self._inbox.put_nowait(None)
                raise StreamClosed
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def close(self) -> None:
        """Close from our side, after the host acknowledged what we wrote."""
        if self.closed:
            return
        await self._ready.wait()
        if not self.closed:
            self.closed = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
            self.conn.streams.pop(self.local_id, None)

    # events from the connection
    def on_okay(self) -> None:
        self._ready.set()

    def on_data(self, data: bytes) -> None:
        self._inbox.put_nowait(data)

    def on_close(self) -> None:
        self.closed = True
        self._ready.set()
        self._inbox.put_nowait(None)


class AdbConnection:
    def __init__(self, device: Device, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.device = device
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, Stream] = {}
        self.max_payload = MAX_PAYLOAD
        self.version = VERSION
        self.connected = False
        self._next_id = 1
        self._drain_lock = asyncio.Lock()

    def send(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
        checksum = sum(payload) & 0xFFFFFFFF if self.version < VERSION_SKIP_CHECKSUM else 0
        header = struct.pack("<6I", command, arg0, arg1, len(payload), checksum, command ^ 0xFFFFFFFF)
        if not self.writer.is_closing():
            self.writer.write(header + payload)

    async def drain(self) -> None:
        async with self._drain_lock:
            try:
                await self.writer.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise StreamClosed from exc

    async def run(self) -> None:
        peer = self.writer.get_extra_info("peername")
        try:
            while True:
                header = await self.reader.readexactly(24)
                command, arg0, arg1, length, _checksum, magic = struct.unpack("<6I", header)
                if magic != command ^ 0xFFFFFFFF or length > 16 * 1024 * 1024:
                    logger.warning("adb: bad message header from {}; closing", peer)
                    return
                payload = await self.reader.readexactly(length) if length else b""
                self._handle(command, arg0, arg1, payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the transport: every stream's service is cancelled, the socket closed."""
        for stream in list(self.streams.values()):
            stream.on_close()
            if stream.task is not None:
                stream.task.cancel()
        self.streams.clear()
        with contextlib.suppress(Exception):
            self.writer.close()

    def _handle(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        if command == A_CNXN:
            self.version = min(arg0, VERSION)
            self.max_payload = max(4096, min(arg1, MAX_PAYLOAD))
            self.connected = True
            self.send(A_CNXN, VERSION, MAX_PAYLOAD, banner(self.device.props))
            return
        if not self.connected:
            return  # adbd ignores everything before the handshake
        if command == A_OPEN:
            service = payload.rstrip(b"\x00").decode("utf-8", "replace")
            local_id = self._next_id
            self._next_id += 1
            handler = self._service(service)
            if handler is None:
                logger.debug("adb: refusing service {!r}", service)
                self.send(A_CLSE, 0, arg0)
                return
            stream = Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            self.send(A_OKAY, local_id, arg0)
            stream.task = asyncio.get_running_loop().create_task(self._serve(stream, handler, service))
        elif command == A_OKAY:
            if (stream := self.streams.get(arg1)) is not None:
                stream.on_okay()
        elif command == A_WRTE:
            if (stream := self.streams.get(arg1)) is not None:
                stream.on_data(payload)
                self.send(A_OKAY, arg1, arg0)
        elif command == A_CLSE:
            if (stream := self.streams.pop(arg1, None)) is not None:
                stream.on_close()
                if stream.task is not None:
                    stream.task.cancel()

    # ----------------------------------------------------------------- services
    def _service(self, service: str) -> Any:
        name = service.partition(":")[0]
        base, _, options = name.partition(",")
        if base == "shell":
            opts = set(options.split(",")) if options else set()
            return self._shell_v2 if "v2" in opts else self._shell_raw
        return {
            "exec": self._shell_raw,
            "sync": self._sync,
            "framebuffer": self._framebuffer,
            "root": self._message("adbd cannot run as root in production builds\n"),
            "unroot": self._message("adbd not running as root\n"),
            "remount": self._message("remount is not supported on the PixelSim device\n"),
        }.get(base)

    async def _serve(self, stream: Stream, handler: Any, service: str) -> None:
        command = service.partition(":")[2]
        try:
            await handler(stream, command)
            await stream.close()
        except (StreamClosed, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - a bug in one service must not take the transport down
            logger.exception("adb: service {!r} failed", service)
            with contextlib.suppress(Exception):
                await stream.close()

    async def _shell_raw(self, stream: Stream, command: str) -> None:
        """``shell:CMD`` and ``exec:CMD``: stdout and stderr in one raw stream, no exit status."""
        if not command.strip():
            await stream.write(b"PixelSim: the interactive shell is not supported; pass a command\n")
            return
        await self.device.run(command, stream.write, stream.write)

    async def _shell_v2(self, stream: Stream, command: str) -> None:
        """Shell protocol v2: packets of (id byte, u32 LE length, data); the last one is the exit code."""

        def packet(kind: int) -> Any:
            async def write(data: bytes) -> None:
                if data:
                    await stream.write(struct.pack("<BI", kind, len(data)) + data)

            return write

        if not command.strip():
            await packet(SHELL_STDERR)(b"PixelSim: the interactive shell is not supported; pass a command\n")
            status = 1
        else:
            status = await self.device.run(command, packet(SHELL_STDOUT), packet(SHELL_STDERR))
        await stream.write(struct.pack("<BIB", SHELL_EXIT, 1, status & 0xFF))

    def _message(self, text: str) -> Any:
        async def reply(stream: Stream, command: str) -> None:
            await stream.write(text.encode())

        return reply

    async def _framebuffer(self, stream: Stream, command: str) -> None:
        """The legacy ``framebuffer:`` service, header version 2 (with colour space), RGBA."""
        raw = await self.device.screen.raw()
        width, height = struct.unpack("<II", raw[:8])
        pixels = raw[16:]
        header = struct.pack(
            "<14I", 2, 32, COLORSPACE_SRGB, len(pixels), width, height, 0, 8, 16, 8, 8, 8, 24, 8
        )  # version, bpp, colour space, size, w, h, red/blue/green/alpha offset+length
        await stream.write(header + pixels)

    async def _sync(self, stream: Stream, command: str) -> None:
        """The file sync service: STAT/LST2/STA2, LIST/LIS2, RECV, SEND, QUIT on the virtual filesystem."""
        fs = self.device.fs
        while True:
            request, length = struct.unpack("<4sI", await stream.read_exactly(8))
            if request == b"QUIT":
                return
            path = (await stream.read_exactly(length)).decode("utf-8", "replace") if length else ""
            if request == b"STAT":
                mode, size, mtime = fs.stat(path) or (0, 0, 0)
                await stream.write(struct.pack("<4sIII", b"STAT", mode, size, mtime))
            elif request in (b"LST2", b"STA2"):
                info = fs.stat(path)
                if info is None:
                    await stream.write(struct.pack("<4sIQQIIIIQqqq", request, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
                else:
                    mode, size, mtime = info
                    uid = 2000
                    stat = struct.pack(
                        "<4sIQQIIIIQqqq", request, 0, 1, 1, mode, 1, uid, 1015, size, mtime, mtime, mtime
                    )
                    await stream.write(stat)
            elif request in (b"LIST", b"LIS2"):
                await self._sync_list(stream, path, v2=request == b"LIS2")
            elif request == b"RECV":
                try:
                    data = fs.read(path)
                except OSError as exc:
                    await _sync_fail(stream, error_text(exc))
                    continue
                for start in range(0, len(data), SYNC_DATA_MAX):
                    chunk = data[start : start + SYNC_DATA_MAX]
                    await stream.write(struct.pack("<4sI", b"DATA", len(chunk)) + chunk)
                await stream.write(struct.pack("<4sI", b"DONE", 0))
            elif request == b"SEND":
                target = path.rsplit(",", 1)[0]
                chunks: list[bytes] = []
                while True:
                    kind, size = struct.unpack("<4sI", await stream.read_exactly(8))
                    if kind == b"DATA":
                        chunks.append(await stream.read_exactly(size))
                    elif kind == b"DONE":
                        break
                    else:
                        await _sync_fail(stream, f"unexpected {kind!r} in SEND")
                        return
                try:
                    fs.write(target, b"".join(chunks), make_parents=True)
                except OSError as exc:
                    await _sync_fail(stream, f"couldn't create file: {error_text(exc)}")
                    continue
                await stream.write(struct.pack("<4sI", b"OKAY", 0))
            else:
                await _sync_fail(stream, f"unknown sync request {request!r}")
                return

    async def _sync_list(self, stream: Stream, path: str, *, v2: bool) -> None:
        fs = self.device.fs
        try:
            names = [".", "..", *fs.listdir(path)]
        except OSError:
            names = []
        base = fs.resolve(path)
        for name in names:
            mode, size, mtime = fs.stat(base if name in (".", "..") else f"{base.rstrip('/')}/{name}") or (0, 0, 0)
            raw = name.encode()
            if v2:
                entry = struct.pack(
                    "<4sIQQIIIIQqqqI", b"DNT2", 0, 1, 1, mode, 1, 2000, 1015, size, mtime, mtime, mtime, len(raw)
                )
            else:
                entry = struct.pack("<4sIIII", b"DENT", mode, size, mtime, len(raw))
            await stream.write(entry + raw)
        if v2:
            await stream.write(struct.pack("<4sIQQIIIIQqqqI", b"DONE", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        else:
            await stream.write(struct.pack("<4sIIII", b"DONE", 0, 0, 0, 0))


async def _sync_fail(stream: Stream, message: str) -> None:
    data = message.encode()
    await stream.write(struct.pack("<4sI", b"FAIL", len(data)) + data)


class AdbServer:
    """Listens on host:port and serves every connection as the same device."""

    def __init__(self, device: Device | None, host: str = "127.0.0.1", port: int = 5555) -> None:
        self.device = device  # may be set after listen(), before serve()
        self.host = host
        self.port = port
        self.connections: set[AdbConnection] = set()
        self._server: asyncio.base_events.Server | None = None

    async def listen(self) -> int:
        """Bind (not yet accepting until :meth:`serve`); returns the port, chosen by the OS for 0."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port, start_serving=False)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def serve(self) -> None:
        assert self._server is not None
        await self._server.start_serving()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.device is not None, "serve() before the device was set"
        conn = AdbConnection(self.device, reader, writer)
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)

    async def close(self) -> None:
        """Stop listening and drop every connection (the host sees the device go offline)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
