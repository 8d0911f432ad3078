"""Which URLs an agent may navigate to.

An agent acting on the web can be steered by what it reads; the allowed-domain list keeps it on the
sites the task is about, and file:// is reachable only from a task that itself starts on a local file.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_ALWAYS_OK_SCHEMES = ("about", "data", "blob", "chrome-error", "javascript")


class DomainPolicy:
    def __init__(self, allowed_domains: list[str], *, allow_file: bool) -> None:
        self.allowed = [d.strip().lower() for d in allowed_domains if d.strip()]
        self.allow_file = allow_file

    @property
    def restricts_hosts(self) -> bool:
        return bool(self.allowed)

    def why_blocked(self, url: str) -> str | None:
        """None if ``url`` may be visited, else the reason in one line."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in _ALWAYS_OK_SCHEMES:
            return None
        if scheme == "file":
            return None if self.allow_file else "file:// URLs are allowed only for tasks that start on a local file"
        if not self.allowed:
            return None
        host = (parts.hostname or "").lower()
        host_port = f"{host}:{parts.port}" if parts.port else host
        for domain in self.allowed:
            if ":" in domain:
                if host_port == domain:
                    return None
            elif host == domain or host.endswith("." + domain):
                return None
        return f"domain {host_port or url!r} is not in the allowed domains ({', '.join(self.allowed)})"
