"""Finding and launching Chromium.

A system Chromium is preferred (it is what distributions keep patched, and Playwright cannot
download its own browser on offline machines); Playwright's managed build is the fallback.
"""

from __future__ import annotations

import os
import shutil

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Flags that keep a headless Chromium quiet and fast on servers and in CI.
BASE_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of the Chromium to launch: ``explicit``, $PIXELPILOT_CHROMIUM, or one on PATH; None = Playwright's."""
    for candidate in (explicit, os.environ.get("PIXELPILOT_CHROMIUM")):
        if candidate:
            path = shutil.which(candidate) or (candidate if os.path.exists(candidate) else None)
            if path is None:
                raise FileNotFoundError(f"Chromium not found at {candidate!r}")
            return path
    for name in CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


def guarded_args(proxy_server: str) -> list[str]:
    """Flags that leave the browser one way out: the filtering proxy at ``proxy_server``.

    ``<-loopback>`` drops Chromium's implicit proxy bypass for localhost and loopback addresses, so
    those go through the filter too. WebRTC may use only proxied connections (no UDP of its own),
    QUIC is off (it cannot be proxied), and the browser's own resolver answers "not found" for every
    name but the proxy's address, so no page can make it look up a name (a DNS prefetch, say) either.
    """
    proxy_host = proxy_server.rsplit("//", 1)[-1].rsplit(":", 1)[0]
    return [
        f"--proxy-server={proxy_server}",
        "--proxy-bypass-list=<-loopback>",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",  # older name of the same switch
        "--disable-quic",
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {proxy_host}",
    ]


def launch_args(extra: tuple[str, ...] = ()) -> list[str]:
    """Chromium flags; ``--no-sandbox`` only when running as root, where the sandbox cannot start."""
    args = list(BASE_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return args + list(extra)
