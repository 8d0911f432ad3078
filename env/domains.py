"""Which hosts an allowed-domains entry covers: the one definition of a match.

The task docs, ``--allow-domain --help``, the browser's filtering proxy, its route checks and the
debugger's ``off_domain`` rule all ask this module, so "allowed" means the same thing everywhere:

- ``example.com`` covers that name and every subdomain (``docs.example.com``), on any port;
- ``example.com:8443`` covers the same names on port 8443 only; a URL without a port is on its
  scheme's default port (80 for http/ws, 443 for https/wss);
- ``127.0.0.1`` and ``[::1]`` (or a bare ``::1``) cover that one address, compared in canonical
  form; ``[::1]:8080`` and ``127.0.0.1:8080`` that address on that port;
- ``localhost`` is a name like any other (it covers ``localhost`` and ``*.localhost``), not an
  address: list ``127.0.0.1`` or ``[::1]`` too if pages use those.

An entry is a host, not a URL: no scheme, path, user, or wildcard (a name already covers its
subdomains). Names compare case-insensitively, without a trailing dot, and non-ASCII names in their
IDNA (punycode) form. Matching is by name only: what a name resolves to is not checked.
It lives outside env/browser because StartSpec validates entries and must not import Playwright.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The ``--allow-domain`` help: the short form of the module docstring.
ALLOW_DOMAIN_HELP = (
    "host the agent may reach, repeatable: example.com (with its subdomains, any port), example.com:8443 "
    "(that port only), 127.0.0.1 or [::1]:8080 (that address only); localhost does not cover 127.0.0.1"
)

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True)
class HostRule:
    """One parsed allowed-domains entry."""

    host: str  # canonical: a lower-case ASCII name, or an IP address without brackets
    port: int | None
    is_address: bool

    def matches(self, host: str, port: int) -> bool:
        """Does this entry cover ``host`` (canonical, see :func:`canonical_host`) on ``port``?"""
        if self.port is not None and port != self.port:
            return False
        if self.is_address:
            return host == self.host
        return host == self.host or host.endswith("." + self.host)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host


def canonical_host(host: str) -> str | None:
    """The form entries and hosts are compared in; None for a host no entry can ever cover."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.rstrip(".")
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    if host.rsplit(".", 1)[-1].isdigit():
        return None  # URL parsers read a numeric last label as an IPv4 address, and this one is not valid
    return host


def parse_host_rule(entry: str) -> HostRule:
    """Parse one entry; raises ValueError with a one-line reason for a malformed one."""
    text = entry.strip()
    shown = repr(entry)
    if not text:
        raise ValueError("allowed domain entry is empty")
    if "://" in text or any(c in text for c in "/?#@"):
        raise ValueError(f"allowed domain {shown} must be a host such as example.com, not a URL")
    if "*" in text:
        raise ValueError(f"allowed domain {shown}: no wildcards; example.com already covers its subdomains")
    if any(c.isspace() for c in text):
        raise ValueError(f"allowed domain {shown} contains whitespace")
    port_text: str | None = None
    if text.startswith("["):
        m = re.fullmatch(r"\[([^\]]+)\](?::(.*))?", text)
        if m is None:
            raise ValueError(f"allowed domain {shown}: an IPv6 address is written [::1] or [::1]:8080")
        host_text, port_text = m.group(1), m.group(2)
        if not _is_ipv6(host_text):
            raise ValueError(f"allowed domain {shown}: {host_text!r} is not an IPv6 address")
    elif text.count(":") > 1:
        if not _is_ipv6(text):
            raise ValueError(f"allowed domain {shown}: not an IPv6 address (with a port, write [::1]:8080)")
        host_text = text
    else:
        host_text, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"allowed domain {shown}: port must be a number from 1 to 65535")
        port = int(port_text)
    host = canonical_host(host_text)
    if host is None:
        raise ValueError(f"allowed domain {shown}: {host_text!r} is not a valid host name or IP address")
    return HostRule(host=host, port=port, is_address=_is_ip(host))


def url_endpoint(url: str) -> tuple[str, int] | None:
    """Canonical host and effective port of an http(s)/ws(s) URL; None if it has no usable host."""
    try:
        parts = urlsplit(url)
        explicit = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = canonical_host(parts.hostname or "")
    if host is None or scheme not in DEFAULT_PORTS:
        return None
    return host, explicit if explicit is not None else DEFAULT_PORTS[scheme]


def host_allowed(rules: list[HostRule], host: str, port: int) -> bool:
    canonical = canonical_host(host)
    return canonical is not None and any(rule.matches(canonical, port) for rule in rules)


def url_allowed(rules: list[HostRule], url: str) -> bool:
    """Is an http(s)/ws(s) URL on an allowed host? Any other URL is not (callers decide on schemes)."""
    endpoint = url_endpoint(url)
    return endpoint is not None and any(rule.matches(*endpoint) for rule in rules)


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
