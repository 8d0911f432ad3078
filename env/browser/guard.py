"""Allowed domains in the browser env: the proxies that enforce them and the record of what they stopped.

Three layers, each for what it does best (docs/SECURITY.md):

- the filtering proxy (proxy.py) is the guard: with allowed domains set, Chromium is launched so that
  every connection it opens goes through a proxy, and a host outside the list is refused there. Two
  proxies run: the context's, which applies the episode's list to everything the pages do, and the
  browser's, which refuses everything (Chromium's own update and sign-in calls, never a page's), so
  what a step reports is what its pages attempted;
- a route handler cancels a disallowed navigation before it leaves (``204``: the page stays where it
  was, no error page) and the browser's request events name the URL, kind and initiator of anything
  else, such as each hop of a redirect, which routes never see;
- after each action (and before each observation) a page that still ended up on a refused navigation
  (an error page, or the proxy's 403 at the off-domain address) is taken back, so no observation
  shows one.
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request, Route, WebSocket

from pixelpilot.env.base import ActionResult, BlockedRequest
from pixelpilot.env.browser.chromium import guarded_args
from pixelpilot.env.browser.domains import DomainPolicy
from pixelpilot.env.browser.proxy import FilteringProxy
from pixelpilot.env.domains import url_endpoint


class DomainGuard:
    """Owned by one BrowserEnv; ``errors`` is the env's list of this step's blocked navigations."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.policy = DomainPolicy([], allow_file=True)
        self._browser_proxy: FilteringProxy | None = None
        self._page_proxy: FilteringProxy | None = None
        self._log: list[BlockedRequest] = []
        self._refused_pages: set[Page] = set()
        self._refused_popup = False  # a refused navigation of a tab whose frame Playwright could not name

    @property
    def active(self) -> bool:
        return self.policy.restricts_hosts

    # ----------------------------------------------------------------- lifecycle
    def launch_args(self) -> list[str]:
        """Chromium flags for a browser that may run guarded episodes (starts the proxies)."""
        if self._browser_proxy is None:
            self._browser_proxy = FilteringProxy(lambda host, port: False)
        if self._page_proxy is None:
            self._page_proxy = FilteringProxy(self.policy.allows_endpoint)
        return guarded_args(self._browser_proxy.server)

    def begin_episode(self, policy: DomainPolicy) -> dict[str, str] | None:
        """Switch to ``policy``; returns the context's proxy setting (None when hosts are unrestricted)."""
        self.policy = policy
        self._log.clear()
        self._refused_pages.clear()
        self._refused_popup = False
        if self._browser_proxy is not None:
            self._browser_proxy.drain()
        if not policy.restricts_hosts or self._page_proxy is None:
            return None
        self._page_proxy.set_policy(policy.allows_endpoint)
        self._page_proxy.drain()
        # An explicit "<-loopback>" keeps Playwright from adding its own bypass rules.
        return {"server": self._page_proxy.server, "bypass": "<-loopback>"}

    def close(self) -> None:
        for proxy in (self._browser_proxy, self._page_proxy):
            if proxy is not None:
                proxy.close()
        self._browser_proxy = self._page_proxy = None

    # ----------------------------------------------------------------- browser events
    def on_request(self, request: Request) -> None:
        if not self.active or (why := self.policy.why_blocked(request.url)) is None:
            return
        initiator, page, top = _origin(request)
        navigation = request.is_navigation_request()
        kind = ("navigation" if top else "iframe") if navigation else request.resource_type
        self.note(request.url, kind, initiator, "proxy")
        if navigation and top:
            if request.redirected_from is not None:
                self._error(f"redirect from {request.redirected_from.url} to {request.url} blocked: {why}")
            else:
                self._error(f"navigation to {request.url} blocked: {why}")
            if page is not None:
                self._refused_pages.add(page)
            else:
                self._refused_popup = True

    def on_websocket(self, page: Page, socket: WebSocket) -> None:
        if self.active and self.policy.why_blocked(socket.url) is not None:
            self.note(socket.url, "websocket", _page_url(page), "proxy")

    def route(self, route: Route, request: Request) -> None:
        if request.is_navigation_request() and (why := self.policy.why_blocked(request.url)):
            initiator, _page, top = _origin(request)
            self.note(request.url, "navigation" if top else "iframe", initiator, "route")
            self._error(f"navigation to {request.url} blocked: {why}")
            # 204 No Content cancels a navigation and leaves the current page in place, where an
            # abort would replace it with Chromium's error page.
            route.fulfill(status=204, body="")
        else:
            route.fallback()

    def note(self, url: str, kind: str, initiator: str | None, stopped_by: str) -> None:
        for entry in self._log:
            if entry.url == url and entry.kind == kind:
                if stopped_by == "route":
                    entry.stopped_by = "route"
                return
        self._log.append(BlockedRequest(url=url, kind=kind, initiator=initiator, stopped_by=stopped_by))

    def _error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    # ----------------------------------------------------------------- per step
    def after_action(self, result: ActionResult, pages: list[Page]) -> ActionResult:
        """``result`` with what was stopped since the previous action; a navigation the proxy refused
        may still have committed its page, which is taken back here, and that makes the step an error."""
        if notes := self.leave_refused_pages(pages):
            error = "; ".join([result.error or "the page left the allowed domains", *notes])
            result = result.model_copy(update={"ok": False, "error": error})
        return result.model_copy(update={"blocked": self.take_blocked()})

    def take_blocked(self) -> list[BlockedRequest]:
        """Everything stopped since the last call: the browser's reports, plus each proxy refusal no
        report explains (a preconnect, a WebRTC relay, a request Playwright does not report)."""
        taken, self._log = self._log, []
        if self._browser_proxy is not None:
            for refusal in self._browser_proxy.drain():
                logger.debug("Chromium's own request to {}:{} refused", refusal.host, refusal.port)
        if self._page_proxy is None:
            return taken
        explained = {url_endpoint(entry.url) for entry in taken}
        seen: set[tuple[str, int, str | None]] = set()
        for refusal in self._page_proxy.drain():
            key = (refusal.host, refusal.port, refusal.url)
            if (refusal.host, refusal.port) in explained or key in seen:
                continue
            seen.add(key)
            host = f"[{refusal.host}]" if ":" in refusal.host else refusal.host
            url = refusal.url or f"{host}:{refusal.port}"
            taken.append(BlockedRequest(url=url, kind=refusal.kind, stopped_by="proxy", at=refusal.at))
        return taken

    def leave_refused_pages(self, pages: list[Page]) -> list[str]:
        """Take every page off a refused navigation: back one entry, else close the tab (a popup) or
        blank it (the last tab). Returns one note per page moved."""
        notes: list[str] = []
        for page in list(pages):
            if page.is_closed() or not self._shows_refusal(page):
                continue
            left = page.url
            try:
                page.go_back(wait_until="domcontentloaded")
            except PlaywrightError:
                pass
            if not page.is_closed() and self._shows_refusal(page):
                try:
                    if len(pages) > 1:
                        page.close()
                        notes.append(f"the tab that reached {left} was closed")
                        continue
                    page.goto("about:blank")
                except PlaywrightError:
                    pass
            self._refused_pages.discard(page)
            notes.append(f"the page was taken back from {left} to {page.url}")
        self._refused_popup = False
        return notes

    def _shows_refusal(self, page: Page) -> bool:
        url = page.url
        if url.startswith("chrome-error:"):
            return page in self._refused_pages or self._refused_popup
        return self.policy.why_blocked(url) is not None


def _origin(request: Request) -> tuple[str | None, Page | None, bool]:
    """Who asked for ``request``: (initiator in words, its page, whether it is a top-level frame's)."""
    if request.redirected_from is not None:
        initiator: str | None = f"redirect from {request.redirected_from.url}"
    else:
        initiator = None
    try:
        frame = request.frame
    except PlaywrightError:  # a service worker's request, or a popup's first navigation, has no frame yet
        worker: Any = request.service_worker
        if worker is not None:
            return initiator or f"service worker {worker.url}", None, False
        return initiator or "a new tab", None, request.is_navigation_request()
    top = frame.parent_frame is None
    return initiator or f"{'page' if top else 'frame'} {frame.url}", frame.page, top


def _page_url(page: Page) -> str | None:
    try:
        return f"page {page.url}"
    except PlaywrightError:
        return None
