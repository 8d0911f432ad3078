"""Secrets: values that must never land in an artefact, in any of the forms they take there.

A secret reaches a record in many spellings: raw in an action, URL-encoded in the address of the
page a GET form led to (``%20`` or ``+`` for a space), JSON-escaped in a model's raw output,
HTML-escaped in a page title or a report. A :class:`SecretSet` knows every such spelling of each
secret, character by character (so a mix, such as JavaScript's ``encodeURIComponent`` leaving ``!``
raw while encoding ``@``, is found too), and masks them deeply in strings, dicts, lists and pydantic
models. Masking replaces the whole match by :data:`SECRET_MASK`.

The agent loop owns one set per episode: it declares the task's secrets before step 1 (values read
from environment variables or files, see :class:`SecretSource`, never written back) and adds the
text typed into a password field from that step on. Every writer (the bundle, report.html, the
terminal, the debugger's state) sees only masked data. ``record_secrets`` turns masking off.

Short secrets over-mask: a declared secret ``"42"`` turns every ``42`` in a URL or a model's output
into the mask. Declared secrets are masked whatever their length (the task asked for it); text typed
into a password field is masked everywhere only from :data:`MIN_TYPED_LENGTH` characters on, and in
its own step whatever its length. Structural strings (ids, action and status names, screenshot file
names: :data:`STRUCTURAL_KEYS`) are never masked, so a bundle stays readable whatever the secret.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECRET_MASK = "••••••••"
#: Text typed into a password field shorter than this is masked in its own step only (elsewhere it
#: would mask every occurrence of, say, "a").
MIN_TYPED_LENGTH = 4
#: ``{secret:NAME}`` in an instruction, a start URL or typed text stands for a declared secret's value.
PLACEHOLDER = re.compile(r"\{secret:([A-Za-z_][A-Za-z0-9_]*)\}")
#: Keys whose string values are names the framework chose, never free text: masking them would only
#: break the bundle (an id that no longer validates, a status that is not a status).
STRUCTURAL_KEYS = frozenset(
    {
        "id",
        "action",
        "type",
        "kind",
        "status",
        "env",
        "error_kind",
        "screenshot",
        "image_format",
        "started_at",
        "ended_at",
        "by",
        "dialect",
    }
)

T = TypeVar("T")


class SecretError(ValueError):
    """A declared secret whose value cannot be read (unset variable, missing or empty file)."""


class SecretSource(BaseModel):
    """Where a declared secret's value comes from: an environment variable or a file, never the task file."""

    model_config = ConfigDict(extra="forbid")

    env: str | None = Field(None, min_length=1, description="environment variable holding the value")
    file: str | None = Field(
        None, min_length=1, description="file holding the value (one trailing newline dropped); relative to the task"
    )

    @model_validator(mode="after")
    def _one_source(self) -> SecretSource:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret needs exactly one of env (a variable name) or file (a path)")
        return self

    def read(self, name: str) -> str:
        """The value; SecretError (one line) when it cannot be had."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"secret '{name}': environment variable {self.env} is not set")
        else:
            path = Path(self.file or "")
            try:
                value = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(f"secret '{name}': cannot read {path}: {exc.strerror or exc}") from None
            value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
        if not value:
            raise SecretError(f"secret '{name}': {'variable ' + self.env if self.env else self.file} is empty")
        return value


# ---------------------------------------------------------------------------------------------- forms
def _html_numeric(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else f"&#{ord(c)};" for c in text)


def _html_hex(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else f"&#x{ord(c):x};" for c in text)


def _json_upper(text: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), json.dumps(text)[1:-1])


#: String encoders a secret passes through on its way into an artefact; each maps character by
#: character, so the spellings of a string are the products of its characters' spellings.
_ENCODERS = (
    lambda s: quote(s, safe=""),  # %20, upper-case hex (browsers, urllib)
    lambda s: re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(s, safe="")),  # lower-case hex
    lambda s: quote_plus(s, safe=""),  # + for a space (HTML forms)
    lambda s: html.escape(s, quote=True),  # &amp; &lt; &gt; &quot; &#x27;
    lambda s: html.escape(s, quote=False),
    lambda s: s.replace("&", "&amp;").replace('"', "&#34;").replace("'", "&#39;").replace("<", "&lt;"),
    lambda s: s.replace("'", "&apos;"),
    _html_numeric,
    _html_hex,
    lambda s: json.dumps(s)[1:-1],  # \" \\ \u00e9
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    _json_upper,
    lambda s: s.replace("/", "\\/"),
)


def _char_forms(char: str) -> set[str]:
    """Every spelling of one character after up to two encodings (a URL inside JSON, JSON inside HTML...)."""
    forms = {char}
    for _ in range(2):
        forms |= {encode(form) for form in forms for encode in _ENCODERS}
    return forms


def secret_pattern(secret: str) -> str:
    """A regular expression matching ``secret`` in any of its spellings (longer spellings first)."""
    parts = []
    for char in secret:
        forms = sorted(_char_forms(char), key=lambda f: (-len(f), f))
        parts.append(re.escape(char) if len(forms) == 1 else "(?:" + "|".join(map(re.escape, forms)) + ")")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------- the set
class SecretSet:
    """The secrets of one episode, and the masking of anything that may hold them.

    Thread-safe: the loop adds typed passwords on its thread while a debugger's web thread masks
    the state it serves.
    """

    def __init__(self, values: Iterable[str] = (), *, masking: bool = True) -> None:
        #: False keeps everything as is (``record_secrets``); values are still known for placeholders.
        self.masking = masking
        self.named: dict[str, str] = {}
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    @classmethod
    def for_spec(cls, spec: Any, *, masking: bool = True) -> SecretSet:
        """The declared secrets of an EpisodeSpec (SecretError when one cannot be read)."""
        return cls(masking=masking).declare(spec)

    def declare(self, spec: Any) -> SecretSet:
        """Read and add the secrets ``spec`` declares (its ``secrets`` mapping); returns self."""
        sources: dict[str, SecretSource] = getattr(spec, "secrets", None) or {}
        for name, source in sources.items():
            value = source.read(name)
            self.named[name] = value
            self.add(value)
        return self

    def add(self, value: str, *, min_length: int = 1) -> bool:
        """Mask ``value`` from now on (when at least ``min_length`` characters); True if it is new."""
        if not value or len(value) < min_length:
            return False
        with self._lock:
            if value in self._values:
                return False
            self._values.add(value)
            ordered = sorted(self._values, key=lambda v: (-len(v), v))  # the longest secret wins an overlap
            self._pattern = re.compile("|".join(secret_pattern(v) for v in ordered))
        return True

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return True  # a set is an owner of secrets even while empty; `len` says how many

    # ------------------------------------------------------------------ placeholders
    def fill(self, text: str) -> str:
        """``text`` with each ``{secret:NAME}`` of a declared secret replaced by its value (for the env or
        the policy, never for a record); unknown names stay as written."""
        if "{secret:" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.named.get(m.group(1), m.group(0)), text)

    # ------------------------------------------------------------------ masking
    def found(self, text: str) -> bool:
        pattern = self._pattern
        return bool(pattern and pattern.search(text))

    def mask_text(self, text: str) -> str:
        pattern = self._pattern
        if not self.masking or pattern is None:
            return text
        return pattern.sub(SECRET_MASK, text)

    def mask(self, value: T, *, keep: Collection[str] = STRUCTURAL_KEYS) -> T:
        """``value`` with every secret masked, deeply (str, dict values, list, tuple, pydantic model
        fields); strings under a ``keep`` key and dict keys are left as they are; other types unchanged."""
        if not self.masking or self._pattern is None:
            return value
        return self._mask(value, keep)

    def _mask(self, value: Any, keep: Collection[str]) -> Any:
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {k: v if k in keep and isinstance(v, str) else self._mask(v, keep) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._mask(v, keep) for v in value)
        if isinstance(value, BaseModel):
            update = {}
            for name in type(value).model_fields:
                current = getattr(value, name)
                if name in keep and isinstance(current, str):
                    continue
                masked = self._mask(current, keep)
                if masked is not current and masked != current:
                    update[name] = masked
            return value.model_copy(update=update) if update else value
        return value
