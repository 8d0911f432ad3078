"""Windows on an X display through EWMH: which is active, what it is called, whose it is, is it alive.

Everything here goes through the window manager's published state (``_NET_CLIENT_LIST``,
``_NET_ACTIVE_WINDOW``) and requests (``_NET_ACTIVE_WINDOW`` client messages to focus and raise),
never through ``XSetInputFocus`` behind its back, so the manager's idea of the active window and
the one the observation reports agree.
"""

from __future__ import annotations

import re
import select
import time
from dataclasses import dataclass

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import res
from Xlib.protocol import event as xevent


@dataclass(frozen=True)
class WindowInfo:
    """One top-level window as the observation records it."""

    id: int
    title: str
    wm_class: str
    pid: int | None
    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "class": self.wm_class,
            "pid": self.pid,
            "bounds": [self.x, self.y, self.width, self.height],
        }


def wait_for_wm(name: str, timeout_s: float) -> bool:
    """True once a window manager on ``name`` announces itself (``_NET_SUPPORTING_WM_CHECK``)."""
    deadline = time.monotonic() + timeout_s
    d = xdisplay.Display(name)
    try:
        atom = d.intern_atom("_NET_SUPPORTING_WM_CHECK")
        while time.monotonic() < deadline:
            if d.screen().root.get_full_property(atom, Xatom.WINDOW) is not None:
                return True
            time.sleep(0.05)
        return False
    finally:
        d.close()


class Windows:
    """EWMH queries and requests on one X connection of their own."""

    def __init__(self, display_name: str) -> None:
        self.d = xdisplay.Display(display_name)
        self.root = self.d.screen().root
        names = (
            "_NET_CLIENT_LIST",
            "_NET_ACTIVE_WINDOW",
            "_NET_WM_NAME",
            "_NET_WM_PID",
            "_NET_WM_PING",
            "WM_PROTOCOLS",
            "UTF8_STRING",
            "_NET_CLOSE_WINDOW",
        )
        self.atom = {n: self.d.intern_atom(n) for n in names}
        self._has_res = self.d.has_extension(res.extname)
        self._static: dict[int, tuple[str, int | None]] = {}  # window -> (class, pid), read once
        # a second connection just for ping replies, so their events never mix with anything else
        self._events = xdisplay.Display(display_name)
        self._events.screen().root.change_attributes(event_mask=X.SubstructureNotifyMask)
        self._events.sync()

    def forget(self) -> None:
        """Drop what is remembered about windows (an episode's end: a new client may reuse a window id)."""
        self._static.clear()

    def close(self) -> None:
        for d in (self.d, self._events):
            try:
                d.close()
            except Exception:  # noqa: BLE001 - the server may already be gone
                pass

    # ------------------------------------------------------------------ reading
    def client_list(self) -> list[int]:
        prop = self.root.get_full_property(self.atom["_NET_CLIENT_LIST"], Xatom.WINDOW)
        return list(prop.value) if prop is not None else []

    def active_id(self) -> int | None:
        prop = self.root.get_full_property(self.atom["_NET_ACTIVE_WINDOW"], Xatom.WINDOW)
        wid = int(prop.value[0]) if prop is not None and len(prop.value) else 0
        return wid or None

    def info(self, wid: int) -> WindowInfo | None:
        """The window's title, class, pid and bounds on the root; None when it is gone."""
        w = self.d.create_resource_object("window", wid)
        try:
            if wid not in self._static:  # class and owner do not change over a window's life
                cls = w.get_wm_class()
                pid_prop = w.get_full_property(self.atom["_NET_WM_PID"], Xatom.CARDINAL)
                pid = self._client_pid(wid) or (int(pid_prop.value[0]) if pid_prop and len(pid_prop.value) else None)
                if len(self._static) >= 512:
                    self._static.clear()
                self._static[wid] = (cls[1] if cls else "", pid)
            wm_class, pid = self._static[wid]
            prop = w.get_full_property(self.atom["_NET_WM_NAME"], self.atom["UTF8_STRING"])
            if prop is not None:
                raw = prop.value
                title = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            else:
                legacy = w.get_wm_name()
                title = legacy.decode("latin-1") if isinstance(legacy, bytes) else (legacy or "")
            geom = w.get_geometry()
            origin = w.translate_coords(self.root, 0, 0)
        except (xerror.BadWindow, xerror.BadDrawable, xerror.BadMatch):
            return None
        return WindowInfo(
            id=wid,
            title=title,
            wm_class=wm_class,
            pid=pid,
            x=-origin.x,
            y=-origin.y,
            width=geom.width,
            height=geom.height,
        )

    def _client_pid(self, wid: int) -> int | None:
        """The pid of the process owning ``wid`` as the X server sees its socket peer (X-Resource).

        Preferred over ``_NET_WM_PID``, which a client sets itself (Tk does not) and which, inside a
        sandbox's pid namespace, would be a number of that namespace."""
        if not self._has_res:
            return None
        try:
            reply = self.d.res_query_client_ids([{"client": wid, "mask": res.LocalClientPIDMask}])
        except xerror.XError:
            return None
        for value in reply.ids:
            if value.spec.mask == res.LocalClientPIDMask and value.value:
                return int(value.value[0])
        return None

    def windows(self) -> list[WindowInfo]:
        found = (self.info(w) for w in self.client_list())
        return [w for w in found if w is not None]

    def active(self) -> WindowInfo | None:
        wid = self.active_id()
        return self.info(wid) if wid else None

    def find(self, title_regex: str) -> WindowInfo | None:
        pattern = re.compile(title_regex)
        return next((w for w in self.windows() if pattern.search(w.title)), None)

    def pointer(self) -> tuple[int, int]:
        q = self.root.query_pointer()
        return q.root_x, q.root_y

    # ------------------------------------------------------------------ requests
    def _client_message(self, window: int, type_name: str, data: list[int], target: int | None = None) -> None:
        ev = xevent.ClientMessage(
            window=self.d.create_resource_object("window", window),
            client_type=self.atom[type_name],
            data=(32, (data + [0] * 5)[:5]),
        )
        dest = self.root if target is None else self.d.create_resource_object("window", target)
        mask = X.SubstructureRedirectMask | X.SubstructureNotifyMask if target is None else X.NoEventMask
        dest.send_event(ev, event_mask=mask)
        self.d.flush()

    def activate(self, wid: int) -> None:
        """Ask the window manager to focus and raise ``wid`` (source 2: a pager, which managers obey)."""
        self._client_message(wid, "_NET_ACTIVE_WINDOW", [2, X.CurrentTime, 0])
        self.d.sync()

    def wait_active(self, wid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.active_id() == wid:
                return True
            time.sleep(0.02)
        return False

    def supports_ping(self, wid: int) -> bool:
        w = self.d.create_resource_object("window", wid)
        try:
            protocols = w.get_full_property(self.atom["WM_PROTOCOLS"], Xatom.ATOM)
        except (xerror.BadWindow, xerror.BadMatch):
            return False
        return protocols is not None and self.atom["_NET_WM_PING"] in protocols.value

    def ping(self, wid: int, timeout_s: float) -> bool | None:
        """Send ``_NET_WM_PING`` and wait for the reply; None when the window does not list the protocol.

        The client answers by sending the message back to the root window, which the second connection
        watches; a stopped or busy client does not answer, while the X server keeps drawing its last
        frame, so a screenshot alone cannot tell a hung application from an idle one. Only windows that
        list the protocol in WM_PROTOCOLS are pinged: older toolkits read any WM_PROTOCOLS message as
        WM_DELETE_WINDOW (xedit quits on one)."""
        if not self.supports_ping(wid):
            return None
        return self._ping(wid, timeout_s)

    def _ping(self, wid: int, timeout_s: float) -> bool:
        stamp = int(time.monotonic() * 1000) & 0xFFFFFFFF
        while self._events.pending_events():  # earlier replies and noise
            self._events.next_event()
        ev = xevent.ClientMessage(
            window=self.d.create_resource_object("window", wid),
            client_type=self.atom["WM_PROTOCOLS"],
            data=(32, [self.atom["_NET_WM_PING"], stamp, wid, 0, 0]),
        )
        self.d.create_resource_object("window", wid).send_event(ev, event_mask=X.NoEventMask)
        self.d.flush()
        deadline = time.monotonic() + timeout_s
        while True:
            while self._events.pending_events():
                got = self._events.next_event()
                if (
                    got.type == X.ClientMessage
                    and got.client_type == self.atom["WM_PROTOCOLS"]
                    and got.data[1][0] == self.atom["_NET_WM_PING"]
                    and got.data[1][1] == stamp
                ):
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self._events.fileno()], [], [], min(left, 0.1))
