"""Safety by default: allowed domains, file:// only from local tasks, secrets masked everywhere."""

from __future__ import annotations

from pathlib import Path

from pixelpilot.agent import Agent, AgentConfig, Decision, EpisodeSpec, Policy, ScriptedPolicy, read_bundle
from pixelpilot.env import StartSpec
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.env.browser.domains import DomainPolicy

OFF_LINK = {"action": "click", "x": 140, "y": 328}
FILE_LINK = {"action": "click", "x": 140, "y": 368}
PASSWORD = {"action": "click", "x": 200, "y": 215}
NAME = {"action": "click", "x": 200, "y": 275}


def run(browser: BrowserEnv, url: str, actions: list, tmp_path: Path, **kw) -> tuple:
    spec = EpisodeSpec(id="safety", instruction="test", start=StartSpec(url=url, **kw), max_steps=len(actions))
    result = Agent(browser, ScriptedPolicy(actions), AgentConfig(out_dir=tmp_path, max_consecutive_failures=9)).run(
        spec
    )
    return result, read_bundle(result.bundle)[1]


def test_domain_policy_rules() -> None:
    policy = DomainPolicy(["example.com", "127.0.0.1:8000"], allow_file=False)
    assert policy.why_blocked("https://example.com/a") is None
    assert policy.why_blocked("https://docs.example.com/a") is None
    assert policy.why_blocked("https://badexample.com/") is not None
    assert policy.why_blocked("http://127.0.0.1:8000/x") is None
    assert policy.why_blocked("http://127.0.0.1:8001/x") is not None
    assert "file://" in (policy.why_blocked("file:///etc/passwd") or "")
    assert policy.why_blocked("about:blank") is None
    assert DomainPolicy([], allow_file=True).why_blocked("https://anything.org") is None


def test_off_domain_click_and_navigate_are_blocked(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    actions = [
        OFF_LINK,
        {"action": "navigate", "url": "https://evil.example.com/"},
        {"action": "navigate", "url": f"{http_server}/loop.html?again"},
    ]
    _result, steps = run(browser, f"{http_server}/loop.html", actions, tmp_path, allowed_domains=["127.0.0.1"])
    assert steps[0].error_kind == "execution"
    assert "navigation to http://evil.example.com/steal blocked" in (steps[0].error or "")
    assert "not in the allowed domains (127.0.0.1)" in (steps[0].error or "")
    assert steps[1].error is not None and "blocked" in steps[1].error
    # the page never left the allowed site, and allowed navigation still works
    assert steps[1].observation.url == f"{http_server}/loop.html"
    assert steps[2].error is None
    assert browser.page.url.endswith("/loop.html?again")


def test_file_urls_only_from_local_tasks(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    _, steps = run(
        browser,
        f"{http_server}/loop.html",
        [FILE_LINK, {"action": "navigate", "url": "file:///etc/hostname"}],
        tmp_path,
    )
    assert all("file:// URLs are allowed only" in (s.error or "") for s in steps)
    assert browser.page.url.startswith("http://")


def test_password_is_masked_in_every_artefact(browser: BrowserEnv, http_server: str, tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55"

    class Leaky(Policy):
        """A model-like policy whose raw output and prompt metadata both contain the secret."""

        def __init__(self) -> None:
            self.script = ScriptedPolicy(
                [
                    PASSWORD,
                    {"action": "type", "text": secret},
                    NAME,
                    {"action": "type", "text": "alice"},
                    {"action": "finish"},
                ]
            )

        def decide(self, instruction, observation, history):
            d = self.script.decide(instruction, observation, history)
            raw = f"<tool_call>{d.action.model_dump_json()}</tool_call>"
            return Decision(action=d.action, raw_output=raw, metadata={"messages": [{"text": raw}]})

    spec = EpisodeSpec(id="pw", instruction="log in", start=StartSpec(url=f"{http_server}/loop.html"))
    result = Agent(browser, Leaky(), AgentConfig(out_dir=tmp_path)).run(spec)
    _, steps = read_bundle(result.bundle)
    assert steps[1].masked and steps[1].action["text"] == "••••••••"
    assert not steps[3].masked and steps[3].action["text"] == "alice"
    for path in result.bundle.iterdir():
        if path.suffix in (".json", ".jsonl", ".html"):
            assert secret not in path.read_text(encoding="utf-8"), path.name
    # the page did receive the real password
    assert browser.page.evaluate("document.getElementById('pw').value") == secret

    kept = Agent(browser, Leaky(), AgentConfig(out_dir=tmp_path / "kept", record_secrets=True)).run(spec)
    assert secret in (kept.bundle / "steps.jsonl").read_text()
