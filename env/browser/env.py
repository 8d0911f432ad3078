"""The browser environment: Playwright driving Chromium.

One browser per env, one fresh context per episode (isolation without a relaunch). Coordinates
arrive in screenshot px and become CSS px through the observation's ScreenGeometry. After every
action the env waits until the page is quiet (navigation committed, no requests in flight) but
never longer than ``settle_timeout_s``, so a chatty page slows an episode down without hanging it.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from playwright.sync_api import BrowserContext, ConsoleMessage, Download, Page, Request, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.env.base import ActionResult, Env, EnvError, Observation, handles
from pixelpilot.env.browser.chromium import find_chromium, launch_args
from pixelpilot.env.browser.domains import DomainPolicy
from pixelpilot.env.browser.guard import DomainGuard
from pixelpilot.env.browser.keys import to_playwright_combo
from pixelpilot.env.browser.watchdog import Watchdog, chromium_descendants
from pixelpilot.env.geometry import ScreenGeometry
from pixelpilot.env.spec import Evaluation, JsCheck, StartSpec, SuccessCheck, TextCheck, UrlCheck, Viewport
from pixelpilot.tools import (
    ActionBase,
    Back,
    Click,
    DoubleClick,
    Drag,
    Key,
    LongPress,
    MiddleClick,
    MouseMove,
    Navigate,
    RightClick,
    Scroll,
    Type,
    Wait,
)

# Where typed text would go: a password field, another editable element (text-like input,
# textarea, contenteditable), a frame (its own focus cannot be read across origins, so it is
# trusted), or nowhere. One round trip answers both "can this be typed into" and "is it a secret".
_ACTIVE_FIELD = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body || el === document.documentElement) return 'none';
  if (el.tagName === 'IFRAME' || el.tagName === 'FRAME') return 'frame';
  if (el.tagName === 'INPUT' && (el.type || '').toLowerCase() === 'password') return 'password';
  if (el.isContentEditable || el.tagName === 'TEXTAREA') return 'field';
  const off = ['button', 'checkbox', 'radio', 'submit', 'reset', 'image', 'file', 'range', 'color', 'hidden'];
  if (el.tagName === 'INPUT' && !off.includes((el.type || '').toLowerCase())) return 'field';
  return el.tagName.toLowerCase();
}"""
# Records, in the page, that a click is about to open a tab or start a download: those arrive as
# browser events a moment later, and settle waits for them only when the page says one is due.
_INTENTS = """(() => {
  const mark = (k) => { (window.__ppIntents = window.__ppIntents || {})[k] = Date.now(); };
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a[href]') : null;
    if (!a) return;
    if (a.hasAttribute('download')) mark('download');
    else if ((a.target && a.target !== '_self' && a.target !== '_top' && a.target !== '_parent')
             || e.ctrlKey || e.metaKey || e.shiftKey) mark('popup');
  }, true);
  const open = window.open;
  window.open = function (...args) { mark('popup'); return open.apply(this, args); };
  // Short timers a page starts right after a real click or key press (e.g. "navigate in 50 ms")
  // are part of that action: count them until they fire, so settle can wait for exactly those.
  const now = () => performance.now();
  let lastInput = -1e9, pending = 0, lastFired = -1e9;
  for (const t of ['click', 'keydown', 'pointerup', 'submit']) {
    document.addEventListener(t, (e) => { if (e.isTrusted) lastInput = now(); }, true);
  }
  const setT = window.setTimeout, clearT = window.clearTimeout, tracked = new Set();
  window.setTimeout = function (fn, delay, ...args) {
    if (typeof fn !== 'function' || now() - lastInput > 100 || (Number(delay) || 0) > 500) {
      return setT.call(this, fn, delay, ...args);
    }
    pending++;
    const id = setT.call(this, function (...a) {
      if (tracked.delete(id)) { pending--; lastFired = now(); }
      return fn.apply(this, a);
    }, delay, ...args);
    tracked.add(id);
    return id;
  };
  window.clearTimeout = function (id) { if (tracked.delete(id)) pending--; return clearT.call(this, id); };
  // A form submitted into this tab navigates it once the browser runs the submission's task, which
  // can come after the click's own work looks done: until then (1 s at most) a navigation is due.
  // (A same-document navigation, such as action="#", changes location.href: no longer due.)
  let submitted = null, submittedAt = -1e9, hrefAtSubmit = '';
  document.addEventListener('submit', (e) => {
    const f = e.target, attr = (n) => ((f && f.getAttribute && f.getAttribute(n)) || '').toLowerCase();
    if (attr('method') === 'dialog' || !['', '_self'].includes(attr('target'))) return;
    submitted = e; submittedAt = now(); hrefAtSubmit = location.href;
  }, true);
  const navDue = () => !!submitted && !submitted.defaultPrevented && now() - submittedAt < 1000
    && location.href === hrefAtSubmit;
  window.__ppSettle = () => [document.readyState, pending, now() - lastFired, navDue()];
})();"""
# One round trip: the document's state, action timers still due, ms since the last one fired, and
# whether a form submission's navigation is still due.
_SETTLE_STATE_EXPR = "(window.__ppSettle ? window.__ppSettle() : [document.readyState, 0, 1e9, false])"
_TAKE_INTENTS_EXPR = "(() => { const i = window.__ppIntents || {}; window.__ppIntents = {}; return i; })()"


@functools.cache
def _settle_script(first: bool, probe: str | None) -> str:
    """One page round trip per settle check: the intents (first call only), the state and the probe."""
    probe_js = f"(() => {{ try {{ return ({probe}); }} catch (e) {{ return null; }} }})()" if probe else "null"
    intents = _TAKE_INTENTS_EXPR if first else "null"
    return f"() => [{intents}, {_SETTLE_STATE_EXPR}, {probe_js}]"


_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(0))))"


class BrowserConfig(BaseModel):
    """How the browser runs. Task files may override viewport and scale; the CLI overrides both."""

    model_config = ConfigDict(extra="forbid")

    headless: bool = True
    viewport: Viewport = Viewport(width=1280, height=720)
    device_scale_factor: float = Field(1.0, gt=0, le=8)
    chromium_path: str | None = Field(None, description="Chromium binary; default: auto-detect")
    capture_format: Literal["jpeg", "png"] = Field(
        "jpeg", description="jpeg q90 is ~2x faster than png on dense pages and keeps text readable"
    )
    jpeg_quality: int = Field(90, ge=1, le=100)
    action_timeout_s: float = Field(10.0, gt=0)
    navigation_timeout_s: float = Field(30.0, gt=0)
    settle_timeout_s: float = Field(3.0, ge=0, description="cap on waiting for quiet after an action")
    hang_timeout_s: float = Field(
        30.0, ge=0, description="an action or capture taking longer kills the page's renderer (0: never)"
    )
    settle_quiet_s: float = Field(
        0.0,
        ge=0,
        description="after pointer and key actions, how long the page must stay quiet before the action "
        "counts as settled; e.g. 0.05 catches navigations a script starts shortly after a click, at that "
        "cost on every click (off by default: see docs/PERFORMANCE.md)",
    )
    capture_title: bool = Field(True, description="read the page title with each observation (one round trip)")
    locale: str = "en-US"
    extra_args: tuple[str, ...] = ()


class BrowserEnv(Env):
    """Chromium through Playwright. Acts on the newest open page (follows popups and new tabs)."""

    kind = "browser"

    def __init__(self, config: BrowserConfig | None = None) -> None:
        self.config = config or BrowserConfig()
        self._pw: Any = None
        self._browser: Any = None
        self._context: BrowserContext | None = None
        self._pages: list[Page] = []
        self._pending: set[Request] = set()
        self._blocked: list[str] = []
        self._downloads: list[Download] = []
        self._guard = DomainGuard(self._blocked)
        self._guarded = False  # the running browser's only way out is the guard's proxies
        self._artifacts: Path | None = None
        self._geometry: tuple[Viewport, float] = (self.config.viewport, self.config.device_scale_factor)
        self._watchdog = Watchdog(set(), 0)
        self._aborted_at = 0.0
        #: Capture only this top-left area of the viewport (CSS px), e.g. MiniWoB's task area inside
        #: its larger window; coordinates stay screenshot px = CSS px * scale from the same origin.
        self.capture_area: Viewport | None = None
        #: A JS expression read in the same round trip as each settle check (e.g. MiniWoB's done
        #: flag); its value when the last action settled is ``settle_probe_value`` (None: not read).
        self.settle_probe: str | None = None
        self.settle_probe_value: Any = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def _policy(self) -> DomainPolicy:
        return self._guard.policy

    def _ensure_browser(self, guarded: bool = False) -> None:
        """A running Chromium launched for ``guarded`` episodes (allowed domains) or unguarded ones;
        switching relaunches it, since the proxy, DNS and WebRTC flags hold for the whole browser."""
        if self._browser is not None and self._browser.is_connected():
            if self._guarded == guarded:
                return
            try:
                self._browser.close()
            except PlaywrightError:
                pass
        path = find_chromium(self.config.chromium_path)
        self._pw = self._pw or acquire_playwright()
        before = chromium_descendants()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=path,
                headless=self.config.headless,
                # the guard's flags come last, so that no extra argument can override them
                args=launch_args(self.config.extra_args) + (self._guard.launch_args() if guarded else []),
                chromium_sandbox=False,
            )
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0]
            raise EnvError(f"could not launch Chromium ({path or 'Playwright managed'}): {first}") from None
        self._guarded = guarded
        new = chromium_descendants() - before
        if len(new) != 1:
            logger.debug("launch scan found {} new Chromium processes; the watchdog re-reads when it fires", len(new))
        self._watchdog = Watchdog(new, self.config.hang_timeout_s, existing_before=before)
        logger.debug("launched Chromium {} from {}", self._browser.version, path or "playwright")

    def reset(self, start: StartSpec, *, artifacts_dir: Path | None = None) -> None:
        if not start.url:
            raise EnvError("a browser task needs start.url")
        try:
            policy = DomainPolicy(start.allowed_domains, allow_file=start.url.startswith("file:"))
        except ValueError as exc:
            raise EnvError(str(exc)) from None
        if policy.restricts_hosts and (why := policy.why_blocked(start.url)):
            raise EnvError(f"start URL {start.url} is blocked: {why}")
        self._ensure_browser(guarded=policy.restricts_hosts)
        self._close_context()
        self._watchdog.fired = False
        viewport = start.viewport or self.config.viewport
        dsf = start.device_scale_factor or self.config.device_scale_factor
        self._geometry = (viewport, dsf)
        self._artifacts = artifacts_dir
        proxy = self._guard.begin_episode(policy)
        ctx = self._browser.new_context(
            viewport={"width": viewport.width, "height": viewport.height},
            device_scale_factor=dsf,
            accept_downloads=True,
            locale=self.config.locale,
            proxy=proxy,  # type: ignore[arg-type]
        )
        ctx.add_init_script(_INTENTS)
        ctx.set_default_timeout(self.config.action_timeout_s * 1000)
        ctx.set_default_navigation_timeout(self.config.navigation_timeout_s * 1000)
        # Route only what the policy can block: every request costs a round trip when routed.
        if self._policy.restricts_hosts:
            ctx.route("**/*", self._guard.route)
        elif not self._policy.allow_file:
            ctx.route("file://**", self._guard.route)
        ctx.on("page", self._on_page)
        ctx.on("request", self._on_request)
        ctx.on("requestfinished", lambda r: self._pending.discard(r))
        ctx.on("requestfailed", self._on_request_failed)
        self._context = ctx
        page = ctx.new_page()
        try:
            response = page.goto(start.url, wait_until="load")
        except PlaywrightError as exc:
            raise EnvError(f"cannot open start URL {start.url}: {'; '.join(self._blocked) or _short(exc)}") from None
        if self._blocked:  # e.g. a redirect off the allowed domains
            raise EnvError(f"cannot open start URL {start.url}: {'; '.join(self._blocked)}")
        if response is not None and response.status >= 400:
            raise EnvError(f"start URL {start.url} answered HTTP {response.status}")
        self._settle(time.monotonic() + self.config.settle_timeout_s)

    def _close_context(self) -> None:
        if self._context is not None:
            try:
                self._context.close()
            except PlaywrightError:
                pass
        self._context = None
        self._pages = []
        self._pending = set()
        self._blocked.clear()
        self._downloads = []

    def close(self) -> None:
        self._close_context()
        try:
            if self._browser is not None:
                self._browser.close()
        except Exception:  # noqa: BLE001 - closing a dead browser must not mask the real error
            pass
        if self._pw is not None:
            release_playwright()
        self._browser = None
        self._pw = None
        self._guard.close()

    # ----------------------------------------------------------------- events
    def _on_page(self, page: Page) -> None:
        self._pages.append(page)
        page.on("close", lambda p: self._pages.remove(p) if p in self._pages else None)
        page.on("download", lambda d: self._downloads.append(d))
        page.on("console", self._on_console)
        page.on("websocket", lambda ws: self._guard.on_websocket(page, ws))

    def _on_request(self, request: Request) -> None:
        self._pending.add(request)
        self._guard.on_request(request)

    def _on_request_failed(self, request: Request) -> None:
        self._pending.discard(request)
        # A response turned into a download shows up as an aborted request just before the
        # download event: remember it so settle waits for that event.
        if "ERR_ABORTED" in (request.failure or ""):
            self._aborted_at = time.monotonic()

    def _on_console(self, message: ConsoleMessage) -> None:
        # Chromium itself refuses file:// links from web pages; surface that as a block too.
        if message.type == "error" and message.text.startswith("Not allowed to load local resource:"):
            url = message.text.split(":", 1)[1].strip()
            self._blocked.append(
                f"navigation to {url} blocked: file:// URLs are allowed only for tasks that start on a local file"
            )

    @property
    def page(self) -> Page:
        if not self._pages:
            raise EnvError("no open page (the last tab was closed)")
        return self._pages[-1]

    # ----------------------------------------------------------------- observe
    def observe(self) -> Observation:
        if self._watchdog.fired:
            raise EnvError(f"the page stopped responding for {self.config.hang_timeout_s:g}s and was killed")
        if self._guard.active:  # e.g. a page's timer navigated off the allowed domains since the last step
            for note in self._guard.leave_refused_pages(self._pages):
                logger.debug("before observing: {}", note)
        page = self.page
        viewport, dsf = self._geometry
        try:
            kwargs: dict[str, Any] = {
                "type": self.config.capture_format,
                "caret": "initial",
                "timeout": self.config.action_timeout_s * 1000,
            }
            if self.config.capture_format == "jpeg":
                kwargs["quality"] = self.config.jpeg_quality
            if self.capture_area is not None:
                area = self.capture_area
                kwargs["clip"] = {"x": 0, "y": 0, "width": area.width, "height": area.height}
                viewport = area
            with self._watchdog.guard("screenshot"):
                try:
                    # Chromium can drop a capture that races a navigation's commit; a retry then succeeds.
                    data = page.screenshot(**{**kwargs, "timeout": min(kwargs["timeout"], 3000)})
                except PlaywrightError:
                    if self._watchdog.fired:
                        raise
                    data = page.screenshot(**kwargs)
                title = page.title() if self.config.capture_title else None
        except PlaywrightError as exc:
            if self._watchdog.fired:
                raise EnvError(f"the page stopped responding for {self.config.hang_timeout_s:g}s") from None
            raise EnvError(f"screenshot failed: {_short(exc)}") from None
        width, height = _image_size(data)
        geometry = ScreenGeometry(
            width=width,
            height=height,
            device_scale_factor=dsf,
            viewport_width=viewport.width,
            viewport_height=viewport.height,
        )
        return Observation(
            screenshot=data,
            image_format=self.config.capture_format,
            geometry=geometry,
            url=page.url,
            title=title,
        )

    def focus_is_secret(self) -> bool:
        try:
            return self.page.evaluate(_ACTIVE_FIELD) == "password"
        except (PlaywrightError, EnvError):
            return False

    # ----------------------------------------------------------------- act
    def _execute(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        result = self._act(action, geometry)
        return self._guard.after_action(result, self._pages) if self._guard.active else result

    def _act(self, action: ActionBase, geometry: ScreenGeometry) -> ActionResult:
        self.settle_probe_value = None  # only a settle after this action may set it
        pages_before = list(self._pages)
        self._blocked.clear()
        result = ActionResult()
        try:
            with self._watchdog.guard(action.action):  # type: ignore[attr-defined]
                result = self.run_handler(action, geometry)
                quiet = self.config.settle_quiet_s if _may_navigate(action) else 0.0
                self._settle(time.monotonic() + self.config.settle_timeout_s, quiet, len(pages_before))
        except PlaywrightError as exc:
            if self._watchdog.fired:
                return ActionResult.failure(
                    f"the page stopped responding for {self.config.hang_timeout_s:g}s during "
                    f"{action.action}; its renderer was killed"  # type: ignore[attr-defined]
                )
            acted = pages_before[-1] if pages_before else None
            if acted is None or not acted.is_closed() or not self._pages:
                return ActionResult.failure(f"{action.action} failed: {_short(exc)}")  # type: ignore[attr-defined]
            # The action closed its own tab (e.g. a button calling window.close()): not a failure.
            result = ActionResult(info={"closed_tab": acted.url})
            self._settle(time.monotonic() + self.config.settle_timeout_s)
        new_pages = [p for p in self._pages if p not in pages_before]
        if "closed_tab" in result.info:
            result.info["switched_to"] = self.page.url
        if new_pages:
            result.info["switched_to"] = new_pages[-1].url
        if self._downloads:
            result.info["downloads"] = self._save_downloads()
        if self._blocked:
            return ActionResult(ok=False, error="; ".join(self._blocked), info=result.info, sensitive=result.sensitive)
        return result

    # One handler per tool (see env.base): the table's keys are what this env supports.
    @handles(Click, DoubleClick, RightClick, MiddleClick)
    def _click(self, action: Click | DoubleClick | RightClick | MiddleClick, g: ScreenGeometry) -> ActionResult | None:
        x, y = g.to_input(action.x, action.y)
        button = "right" if isinstance(action, RightClick) else "middle" if isinstance(action, MiddleClick) else "left"
        self.page.mouse.click(x, y, button=button, click_count=2 if isinstance(action, DoubleClick) else 1)
        return None

    @handles(MouseMove)
    def _hover(self, action: MouseMove, g: ScreenGeometry) -> ActionResult | None:
        self.page.mouse.move(*g.to_input(action.x, action.y))  # :hover styles, menus and tooltips open
        return None

    @handles(LongPress)
    def _long_press(self, action: LongPress, g: ScreenGeometry) -> ActionResult | None:
        page = self.page
        x, y = g.to_input(action.x, action.y)
        page.mouse.move(x, y)
        page.mouse.down()
        page.wait_for_timeout(action.duration_ms)
        page.mouse.up()
        return None

    @handles(Drag)
    def _drag(self, action: Drag, g: ScreenGeometry) -> ActionResult | None:
        mouse = self.page.mouse
        x0, y0 = g.to_input(action.start_x, action.start_y)
        x1, y1 = g.to_input(action.end_x, action.end_y)
        mouse.move(x0, y0)
        mouse.down()
        mouse.move(x1, y1, steps=12)
        mouse.up()
        return None

    @handles(Type)
    def _type(self, action: Type, g: ScreenGeometry) -> ActionResult | None:
        page = self.page
        focus = page.evaluate(_ACTIVE_FIELD)
        if focus not in ("field", "password", "frame"):
            # the keys would go to the page, not into a field: say so rather than report a delivery
            where = "nothing has focus" if focus == "none" else f"the focus is on a <{focus}>, not a text field"
            return ActionResult.failure(f"no focused text field to type into ({where}); click the field first")
        secret = focus == "password"
        if action.clear:
            page.keyboard.press("ControlOrMeta+a")
            page.keyboard.press("Backspace")
        page.keyboard.type(action.text)
        if action.press_enter:
            page.keyboard.press("Enter")
        return ActionResult(sensitive=secret)

    @handles(Key)
    def _key(self, action: Key, g: ScreenGeometry) -> ActionResult | None:
        try:
            combo = to_playwright_combo(action.keys)
            self.page.keyboard.press(combo)
        except (ValueError, PlaywrightError) as exc:
            return ActionResult.failure(f"key {action.keys!r}: {_short(exc)}")
        return None

    @handles(Scroll)
    def _scroll(self, action: Scroll, g: ScreenGeometry) -> ActionResult | None:
        page = self.page
        x, y = g.to_input(action.x, action.y)
        dist = action.amount / g.device_scale_factor
        dx, dy = {"up": (0, -dist), "down": (0, dist), "left": (-dist, 0), "right": (dist, 0)}[action.direction]
        page.mouse.move(x, y)
        page.mouse.wheel(dx, dy)
        page.evaluate(_TWO_FRAMES)  # wheel scrolling lands asynchronously, on the compositor
        return None

    @handles(Navigate)
    def _navigate(self, action: Navigate, g: ScreenGeometry) -> ActionResult | None:
        if why := self._policy.why_blocked(action.url):
            return ActionResult.failure(f"navigation to {action.url} blocked: {why}")
        try:
            self.page.goto(action.url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            if self._blocked:
                return None  # reported by _act as a block, not as a network error
            return ActionResult.failure(f"navigate to {action.url} failed: {_short(exc)}")
        return None

    @handles(Back)
    def _back(self, action: Back, g: ScreenGeometry) -> ActionResult | None:
        page = self.page
        if page.go_back(wait_until="domcontentloaded") is None and not self._blocked:
            if page.url == "about:blank":  # the blank tab a fresh page starts on: not a real entry
                page.go_forward(wait_until="domcontentloaded")
            return ActionResult(info={"note": "no history entry to go back to"})
        return None

    @handles(Wait)
    def _wait(self, action: Wait, g: ScreenGeometry) -> ActionResult | None:
        self.page.wait_for_timeout(action.seconds * 1000)
        return None

    def _settle(self, deadline: float, quiet_s: float = 0.0, pages_before: int | None = None) -> None:
        """Wait for navigation, in-flight requests and the short timers the action started to finish,
        up to ``deadline``; with ``quiet_s``, also for that long without a new request.

        A popup or download the action started arrives as a browser event some time after the click;
        the page's own record of such intents (see _INTENTS) says whether one is still due."""
        page = self.page
        self.settle_probe_value = None
        first, again = _settle_script(True, self.settle_probe), _settle_script(False, self.settle_probe)
        # The state read with the intents is too early to trust: the request a click starts reaches the
        # driver a moment later, so readiness is always judged on a later read (which also reads the probe).
        try:
            intents = page.evaluate(first)[0] or {}
        except PlaywrightError:
            intents = {}  # navigating away: the loop below waits for the new document
        quiet_since: float | None = None
        while (now := time.monotonic()) < deadline:
            pending = [r for r in self._pending if r.resource_type not in ("websocket", "eventsource")]
            popup_due = "popup" in intents and pages_before is not None and len(self._pages) <= pages_before
            download_due = ("download" in intents or now - self._aborted_at < 0.5) and not self._downloads
            if not pending:
                if quiet_since is None:
                    quiet_since = now
                try:
                    _, state_now, probe = self.page.evaluate(again)
                    state, timers, since_fired, navigation_due = state_now
                    # a timer that just fired may have started a navigation whose request is on its way
                    ready = state != "loading" and timers == 0 and since_fired > 30 and not navigation_due
                except PlaywrightError:
                    ready = False
                if ready and now - quiet_since >= quiet_s and not popup_due and not download_due:
                    self.settle_probe_value = probe
                    return
            else:
                quiet_since = None
            try:
                self.page.wait_for_timeout(15)
            except (PlaywrightError, EnvError):
                return
        logger.debug("settle cap reached with {} requests in flight", len(self._pending))

    def _save_downloads(self) -> list[str]:
        saved: list[str] = []
        target = (self._artifacts or Path.cwd()) / "downloads"
        for download in self._downloads:
            target.mkdir(parents=True, exist_ok=True)
            path = target / Path(download.suggested_filename).name
            try:
                download.save_as(path)
                saved.append(str(path))
            except PlaywrightError as exc:
                saved.append(f"failed: {_short(exc)}")
        self._downloads.clear()
        return saved

    # ----------------------------------------------------------------- evaluate
    def _evaluate(self, check: SuccessCheck) -> Evaluation:
        page = self.page
        try:
            if isinstance(check, UrlCheck):
                ok = re.search(check.pattern, page.url) is not None
                detail = f"url {page.url} {'matches' if ok else 'does not match'} /{check.pattern}/"
            elif isinstance(check, TextCheck):
                text = page.evaluate("() => document.body ? document.body.innerText : ''")
                ok = check.text in text
                detail = f"page {'contains' if ok else 'lacks'} {check.text!r}"
            elif isinstance(check, JsCheck):
                ok = bool(page.evaluate(check.expression))
                detail = f"js predicate returned {ok}"
            else:
                return Evaluation(success=False, reward=0.0, detail=f"{check.type} checks need an Android env")
        except PlaywrightError as exc:
            return Evaluation(success=False, reward=0.0, detail=f"check failed: {_short(exc)}")
        return Evaluation(success=ok, reward=float(ok), detail=detail)

    def info(self) -> dict[str, Any]:
        viewport, dsf = self._geometry
        return {
            "kind": self.kind,
            "browser": f"Chromium {self._browser.version}" if self._browser else None,
            "viewport": viewport.model_dump(),
            "device_scale_factor": dsf,
            "capture": f"{self.config.capture_format}"
            + (f" q{self.config.jpeg_quality}" if self.config.capture_format == "jpeg" else ""),
            "headless": self.config.headless,
        }


def _may_navigate(action: ActionBase) -> bool:
    """Actions after which a page script commonly navigates (a click handler, a drop handler, Enter in a
    form): taps and key presses by pointer or keyboard, drags, typing that ends with Enter."""
    if isinstance(action, Type):
        return action.press_enter
    if isinstance(action, Drag):
        return True
    return action.family in ("tap", "press") and bool(action.modalities & {"pointer", "keys"})


_local = threading.local()


def acquire_playwright() -> Any:
    """One Playwright driver per thread: the sync API refuses a second one in the same thread,
    and several envs (e.g. a test's and a benchmark's) may live side by side."""
    if getattr(_local, "count", 0) == 0:
        _local.pw = sync_playwright().start()
        _local.count = 0
    _local.count += 1
    return _local.pw


def release_playwright() -> None:
    _local.count -= 1
    if _local.count == 0:
        try:
            _local.pw.stop()
        except Exception:  # noqa: BLE001
            pass
        _local.pw = None


def _short(exc: BaseException) -> str:
    """Playwright errors carry multi-line call logs; the first line is the message."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^\w+\.\w+: ", "", first)


def _image_size(data: bytes) -> tuple[int, int]:
    """Width/height from the PNG or JPEG header, without decoding the pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    raise ValueError("not a PNG or JPEG image")
