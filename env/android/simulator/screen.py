"""The simulated phone's display: one headless Chromium page that renders the bundled apps.

The page is drawn at 360x780 CSS px and captured at device scale 3, so the phone is 1080x2340 device
px and a device pixel is a CSS pixel times three, everywhere (taps, bounds, screenshots). Rotation 1
or 3 swaps the viewport to landscape. Screenshots come straight from Chromium's compositor through a
CDP session (Playwright's own ``page.screenshot`` costs ~100 ms more per call for caret hiding and
font waits the phone does not need). Input goes through Playwright's mouse and keyboard; the page's
gesture layer turns presses into taps, long presses and drags.

Everything here runs on the simulator's asyncio loop with Playwright's *async* API, so the driver
lives in the simulator's own thread and never meets a sync-API driver of the process around it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import struct
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image
from playwright.async_api import Browser, CDPSession, Page, Playwright, async_playwright

from pixelpilot.env.browser.chromium import find_chromium, launch_args

SCALE = 3
PORTRAIT_CSS = (360, 780)
APP_PAGE = Path(__file__).parent / "apps" / "phone.html"
#: Android's screencap writes format 1 (RGBA_8888) and, since Android 12, a fourth header word: the
#: colour space (1 = sRGB).
RGBA_8888 = 1
COLORSPACE_SRGB = 1


class Screen:
    """The display, its touch input and its view hierarchy. Input and capture are serialised."""

    def __init__(self, *, chromium_path: str | None = None) -> None:
        self.chromium_path = chromium_path
        self.rotation = 0
        self.lock = asyncio.Lock()
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._page: Page | None = None
        self._cdp: CDPSession | None = None

    # ----------------------------------------------------------------- lifecycle
    async def start(self, init: dict[str, Any]) -> None:
        self._pw = await async_playwright().start()
        self._browser = await self._pw.chromium.launch(
            executable_path=find_chromium(self.chromium_path),
            headless=True,
            args=launch_args(),
            chromium_sandbox=False,
        )
        width, height = PORTRAIT_CSS
        context = await self._browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=SCALE, locale="en-US"
        )
        self._page = await context.new_page()
        await self._page.goto(APP_PAGE.as_uri())
        await self._page.evaluate("cfg => window.pixelsim.init(cfg)", init)
        self._cdp = await context.new_cdp_session(self._page)

    async def close(self) -> None:
        browser, pw = self._browser, self._pw
        self._browser = self._pw = self._page = self._cdp = None
        try:
            if browser is not None:
                await browser.close()
            if pw is not None:
                await pw.stop()
        except Exception:  # noqa: BLE001 - shutting down; the browser may already be gone
            pass

    @property
    def page(self) -> Page:
        if self._page is None:
            raise RuntimeError("screen not started")
        return self._page

    # ----------------------------------------------------------------- geometry
    @property
    def css_size(self) -> tuple[int, int]:
        width, height = PORTRAIT_CSS
        return (height, width) if self.rotation % 2 else (width, height)

    @property
    def size(self) -> tuple[int, int]:
        """Display size in device px as currently rotated (what screencap returns)."""
        width, height = self.css_size
        return width * SCALE, height * SCALE

    async def set_rotation(self, rotation: int) -> None:
        async with self.lock:
            self.rotation = rotation % 4
            width, height = self.css_size
            await self.page.set_viewport_size({"width": width, "height": height})

    # ----------------------------------------------------------------- the page's bridge
    async def call(self, fn: str, *args: Any) -> Any:
        """Call ``window.pixelsim[fn](*args)`` in the page."""
        return await self.page.evaluate("([fn, args]) => window.pixelsim[fn](...args)", [fn, list(args)])

    # ----------------------------------------------------------------- capture
    async def png(self) -> bytes:
        async with self.lock:
            return await self._capture()

    async def _capture(self) -> bytes:
        assert self._cdp is not None
        width, height = self.css_size
        shot = await self._cdp.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "optimizeForSpeed": True,
                "captureBeyondViewport": False,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": SCALE},
            },
        )
        return base64.b64decode(shot["data"])

    async def raw(self) -> bytes:
        """screencap's raw format: width, height, format, colour space (u32 LE each), then RGBA rows."""
        png = await self.png()
        return await asyncio.to_thread(_png_to_raw, png)

    # ----------------------------------------------------------------- input (device px)
    async def tap(self, x: float, y: float) -> None:
        async with self.lock:
            await self.page.mouse.click(x / SCALE, y / SCALE)

    async def swipe(self, x1: float, y1: float, x2: float, y2: float, duration_ms: int, *, hold_ms: int = 0) -> None:
        """Press at (x1, y1), move to (x2, y2) over ``duration_ms`` in real time, release.

        ``hold_ms`` keeps the finger still first (draganddrop: a long press picks the item up).
        """
        async with self.lock:
            mouse = self.page.mouse
            await mouse.move(x1 / SCALE, y1 / SCALE)
            await mouse.down()
            if hold_ms:
                await asyncio.sleep(hold_ms / 1000)
            # move events on a clock, not after fixed sleeps, so each event's round trip to the page does
            # not stretch the gesture: a 300 ms swipe takes 300 ms (plus one event), as on a phone
            loop = asyncio.get_running_loop()
            start = loop.time()
            steps = max(1, min(60, duration_ms // 16))
            for i in range(1, steps + 1):
                await asyncio.sleep(max(0.0, start + duration_ms / 1000 * i / steps - loop.time()))
                t = i / steps
                await mouse.move((x1 + (x2 - x1) * t) / SCALE, (y1 + (y2 - y1) * t) / SCALE)
            await mouse.up()

    async def motion(self, action: str, x: float, y: float) -> None:
        """``input motionevent DOWN|MOVE|UP x y``: one raw touch event."""
        async with self.lock:
            mouse = self.page.mouse
            await mouse.move(x / SCALE, y / SCALE)
            if action == "DOWN":
                await mouse.down()
            elif action in ("UP", "CANCEL"):
                await mouse.up()

    async def press(self, key: str) -> None:
        async with self.lock:
            await self.page.keyboard.press(key)

    async def type(self, text: str) -> None:
        """Key events for each character, as ``input text`` injects them."""
        async with self.lock:
            await self.page.keyboard.type(text)

    async def insert(self, text: str) -> None:
        """Commit text at once, as an IME does (any Unicode)."""
        async with self.lock:
            await self.page.keyboard.insert_text(text)

    # ----------------------------------------------------------------- view hierarchy
    async def hierarchy_xml(self) -> str:
        tree = await self.call("dump", SCALE)
        return hierarchy_xml(tree["windows"], self.rotation)


def _png_to_raw(png: bytes) -> bytes:
    image = Image.open(io.BytesIO(png))
    rgba = image.convert("RGBA") if image.mode != "RGBA" else image
    header = struct.pack("<4I", rgba.width, rgba.height, RGBA_8888, COLORSPACE_SRGB)
    return header + rgba.tobytes()


_XML_INVALID = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)], None)
#: As Android's serializer writes attribute values: a raw tab or newline there would reach any XML
#: parser as a space (attribute-value normalisation), so they travel as character references.
_XML_ATTR_ENTITIES = {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def _attr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value).translate(_XML_INVALID), _XML_ATTR_ENTITIES)


def _node_xml(node: dict[str, Any], index: int, package: str, out: list[str]) -> None:
    x1, y1, x2, y2 = node["bounds"]
    attrs = (
        ("index", index),
        ("text", node["text"]),
        ("resource-id", node["rid"]),
        ("class", node["cls"]),
        ("package", package),
        ("content-desc", node["desc"]),
        ("checkable", node["checkable"]),
        ("checked", node["checked"]),
        ("clickable", node["clickable"]),
        ("enabled", node["enabled"]),
        ("focusable", node["focusable"]),
        ("focused", node["focused"]),
        ("scrollable", node["scrollable"]),
        ("long-clickable", node["longClickable"]),
        ("password", node["password"]),
        ("selected", node["selected"]),
        ("bounds", f"[{x1},{y1}][{x2},{y2}]"),
    )
    out.append("<node " + " ".join(f'{k}="{_attr(v)}"' for k, v in attrs))
    children = node["children"]
    if not children:
        out.append(" />")
        return
    out.append(">")
    for i, child in enumerate(children):
        _node_xml(child, i, package, out)
    out.append("</node>")


def hierarchy_xml(windows: list[dict[str, Any]], rotation: int) -> str:
    """uiautomator's dump format: one line, one root node per window, bounds in device px."""
    out = [f"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation=\"{rotation}\">"]
    for i, window in enumerate(windows):
        _node_xml(window["root"], i, window["pkg"], out)
    out.append("</hierarchy>")
    return "".join(out)
