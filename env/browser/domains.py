"""Which URLs an agent may navigate to.

An agent acting on the web can be steered by what it reads; the allowed-domain list keeps it on the
sites the task is about, and file:// is reachable only from a task that itself starts on a local file.
What an entry covers is defined once, in env/domains.py. This policy answers for whole URLs (schemes
included) and gives the reason in words; the filtering proxy (env/browser/proxy.py) enforces the
same entries on every connection the browser opens.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pixelpilot.env.domains import DEFAULT_PORTS, HostRule, parse_host_rule, url_endpoint

#: Schemes that never open a connection of their own.
_ALWAYS_OK_SCHEMES = ("about", "data", "blob", "chrome-error", "javascript")


class DomainPolicy:
    def __init__(self, allowed_domains: list[str], *, allow_file: bool) -> None:
        """Raises ValueError (one line) for a malformed entry."""
        self.rules: list[HostRule] = [parse_host_rule(d) for d in allowed_domains]
        self.allow_file = allow_file

    @property
    def allowed(self) -> list[str]:
        return [str(rule) for rule in self.rules]

    @property
    def restricts_hosts(self) -> bool:
        return bool(self.rules)

    def allows_endpoint(self, host: str, port: int) -> bool:
        """For the proxy: may a connection to ``host`` (canonical) on ``port`` be opened?"""
        return not self.rules or any(rule.matches(host, port) for rule in self.rules)

    def why_blocked(self, url: str) -> str | None:
        """None if ``url`` may be visited, else the reason in one line."""
        try:
            parts = urlsplit(url)
            netloc = parts.netloc
        except ValueError:
            return f"{url!r} is not a valid URL"
        scheme = parts.scheme.lower()
        if scheme in _ALWAYS_OK_SCHEMES:
            return None
        if scheme == "file":
            return None if self.allow_file else "file:// URLs are allowed only for tasks that start on a local file"
        if not self.rules:
            return None
        allowed = ", ".join(self.allowed)
        if scheme not in DEFAULT_PORTS:
            return f"{scheme}: URLs are not allowed when the task lists allowed domains ({allowed})"
        endpoint = url_endpoint(url)
        if endpoint is not None and any(rule.matches(*endpoint) for rule in self.rules):
            return None
        shown = netloc.rpartition("@")[2].lower() or url
        return f"domain {shown} is not in the allowed domains ({allowed})"
