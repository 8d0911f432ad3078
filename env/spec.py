"""How an episode starts and how its success is checked: the env-level half of a task.

tasks/ composes these into task files; the agent passes them to the env. They live here because
only the environment can carry them out (open a URL, read the page, query the UI hierarchy).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pixelpilot.env.domains import DEFAULT_PORTS, parse_host_rule, url_allowed


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)

    @classmethod
    def parse(cls, text: str) -> Viewport:
        """Parse '1280x720'."""
        try:
            w, h = text.lower().split("x")
            return cls(width=int(w), height=int(h))
        except (ValueError, TypeError):
            raise ValueError(f"viewport must look like 1280x720, got {text!r}") from None


class StartSpec(BaseModel):
    """Where an episode starts. Browser: a URL (and screen); Android: an app or activity."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    app: str | None = Field(None, description="Android package or app label")
    activity: str | None = Field(None, description="Android activity, e.g. .MainActivity")
    viewport: Viewport | None = None
    device_scale_factor: float | None = Field(None, gt=0, le=8)
    allowed_domains: list[str] = Field(
        default_factory=list,
        description="hosts the browser may reach (env/domains.py: a name covers its subdomains, a port or "
        "an IP literal narrows it); empty means any",
    )
    setup: list[str] = Field(
        default_factory=list,
        description="Android: shell commands run before the episode (e.g. settings put ...); desktop: shell "
        "commands run in the episode's scratch home before its application starts",
    )
    command: list[str] = Field(
        default_factory=list, description="desktop: the application to start, as an argument list"
    )
    wait_window: str | None = Field(
        None, description="desktop: regular expression of the window title to wait for (default: any new window)"
    )
    cwd: str | None = Field(None, description="desktop: the application's working folder, relative to the scratch home")
    env: dict[str, str] | None = Field(None, description="desktop: extra environment variables for the episode")
    network: bool | None = Field(None, description="desktop: let the sandboxed application reach the network")

    @field_validator("allowed_domains")
    @classmethod
    def _parse_domains(cls, entries: list[str]) -> list[str]:
        """A malformed entry fails here, where task files and options come in, in canonical form after."""
        return [str(parse_host_rule(entry)) for entry in entries]

    @model_validator(mode="after")
    def _start_is_allowed(self) -> StartSpec:
        """A start URL the allowed domains would block is a task error, found before a browser starts.
        (A relative URL is a task file's local page, resolved later; file:, about: and data: open no
        connection.)"""
        url = self.url
        if not url or not self.allowed_domains or ":" not in url:
            return self
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("file", "about", "data"):
            return self
        rules = [parse_host_rule(entry) for entry in self.allowed_domains]
        if scheme not in DEFAULT_PORTS or not url_allowed(rules, url):
            raise ValueError(f"start URL {url} is outside the allowed domains ({', '.join(self.allowed_domains)})")
        return self


class UrlCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["url"] = "url"
    pattern: str = Field(description="regular expression searched in the current URL")


class TextCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"] = "text"
    text: str = Field(min_length=1, description="substring of the page's visible text")


class JsCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["js"] = "js"
    expression: str = Field(min_length=1, description="JS function or expression; truthy = success")


class AnswerCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["answer"] = "answer"
    pattern: str = Field(description="regular expression the agent's answer must match")


class UiCheck(BaseModel):
    """Android: an element of the UI hierarchy matching every given field exists (or not)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["ui"] = "ui"
    text: str | None = Field(None, description="exact text")
    text_regex: str | None = Field(None, description="regular expression searched in the text")
    resource_id: str | None = None
    content_desc: str | None = None
    checked: bool | None = None
    exists: bool = Field(True, description="false: success when no element matches")

    def matches(self, element: dict) -> bool:
        import re

        return (
            (self.text is None or element.get("text") == self.text)
            and (self.text_regex is None or re.search(self.text_regex, element.get("text", "")) is not None)
            and (self.resource_id is None or element.get("resource_id") == self.resource_id)
            and (self.content_desc is None or element.get("content_desc") == self.content_desc)
            and (self.checked is None or element.get("checked") == self.checked)
        )

    def describe(self) -> str:
        fields = self.model_dump(exclude={"type", "exists"}, exclude_none=True)
        return ", ".join(f"{k}={v!r}" for k, v in fields.items()) or "anything"


class ShellCheck(BaseModel):
    """A shell command's output matches a pattern (Android: `settings get global wifi_on`; desktop: run in
    the episode's scratch home), and, when ``exit_code`` is given, it exits with that status."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["shell"] = "shell"
    command: str = Field(min_length=1)
    pattern: str = Field("", description="regular expression searched in the command's output")
    exit_code: int | None = Field(None, description="desktop: the exit status success needs")


class FileCheck(BaseModel):
    """Desktop: a file (relative to the episode's scratch home) exists and its text matches a pattern."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["file"] = "file"
    path: str = Field(min_length=1)
    pattern: str = Field("", description="regular expression searched in the file's text")
    exists: bool = Field(True, description="false: success when the file is missing or does not match")


class WindowCheck(BaseModel):
    """Desktop: a window whose title matches a pattern is open (or is the active one)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["window"] = "window"
    title: str = Field(description="regular expression searched in window titles")
    active: bool = Field(False, description="only the active window counts")


class NoCheck(BaseModel):
    """No check: success is what the agent declared with finish."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["none"] = "none"


SuccessCheck = Annotated[
    Union[UrlCheck, TextCheck, JsCheck, AnswerCheck, UiCheck, ShellCheck, FileCheck, WindowCheck, NoCheck],
    Field(discriminator="type"),
]


class Evaluation(BaseModel):
    success: bool
    reward: float
    detail: str = ""
