"""A tool is one row per layer: its model, a handler in an env, a codec in a dialect — nothing else.

A tool defined here, outside the package (``Hover``), is registered the way a plugin would do it,
and every layer picks it up: the registry (names, schema listing, validation), the browser env's
supported set (and only the env that got a handler), a real Chromium running it, the overlay and
step-level scoring reading its metadata, and Qwen2.5-VL's prompt, encode and parse. The last test
holds the line: no module outside tools/ keeps its own list of tool names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import Field

from pixelpilot import tools
from pixelpilot.agent.overlay import action_svg
from pixelpilot.agent.qwen.dialects import ParseError, Qwen2Dialect, Qwen25Dialect, get_dialect
from pixelpilot.agent.qwen.dialects.codecs import JsonToolCallCodec
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.env import ActionResult, ScreenGeometry, StartSpec, Viewport
from pixelpilot.env.android import AndroidEnv
from pixelpilot.env.browser import BrowserEnv
from pixelpilot.tasks.bench.miniwob.env import MiniWobEnv
from pixelpilot.tasks.bench.steplevel_match import action_group, match_action
from pixelpilot.tools import REGISTRY, ActionBase, Modality, ToolValidationError

ROOT = Path(__file__).resolve().parent.parent


class Hover(ActionBase):
    """Move the pointer over a point without clicking (menus that open on hover)."""

    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "y"),)
    modalities: ClassVar[frozenset[Modality]] = frozenset({"pointer"})
    marker: ClassVar[str] = "hover"
    action: Literal["hover"] = "hover"
    x: float = Field(ge=0, description="where the pointer goes, from the left edge")
    y: float = Field(ge=0, description="where the pointer goes, from the top edge")
    settle_ms: int = Field(0, ge=0, le=5000, description="how long to stay there before the next step")


def hover_in_browser(env: BrowserEnv, action: Hover, geometry: ScreenGeometry) -> ActionResult | None:
    env.page.mouse.move(*geometry.to_input(action.x, action.y))
    if action.settle_ms:
        env.page.wait_for_timeout(action.settle_ms)
    return None


@pytest.fixture
def hover() -> Iterator[type[Hover]]:
    """The three rows, added as a plugin adds them, and taken out again so no other test sees them."""
    tools.register(Hover)
    BrowserEnv.register_handler(Hover)(hover_in_browser)
    Qwen25Dialect.register_codec(JsonToolCallCodec(Hover))
    try:
        yield Hover
    finally:
        tools.unregister("hover")
        BrowserEnv.handlers.pop(Hover, None)
        Qwen25Dialect.codecs.pop("hover", None)


def test_the_registry_lists_validates_and_describes_a_registered_tool(hover: type[Hover]) -> None:
    assert "hover" in REGISTRY.names and tools.tool_named("hover") is Hover
    schema = REGISTRY.schema("hover")
    assert schema["description"].startswith("Move the pointer over a point")
    assert set(schema["parameters"]["properties"]) == {"x", "y", "settle_ms"}
    assert schema["parameters"]["required"] == ["x", "y"]
    assert "hover" in [s["name"] for s in REGISTRY.schemas()]
    assert tools.validate_action({"action": "hover", "x": 3, "y": 4}) == Hover(x=3, y=4)
    assert REGISTRY.validate({"name": "hover", "arguments": {"x": 3, "y": 4}}) == Hover(x=3, y=4)
    with pytest.raises(ToolValidationError, match="hover: unexpected argument 'button'"):
        tools.validate_action({"action": "hover", "x": 3, "y": 4, "button": "left"})
    with pytest.raises(ToolValidationError, match="hover: missing argument 'y'"):
        tools.validate_action({"action": "hover", "x": 3})


def test_registration_refuses_what_would_break_a_layer() -> None:
    class NoName(ActionBase):
        x: float = 0

    class BadPoints(ActionBase):
        point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "z"),)
        action: Literal["bad_points"] = "bad_points"
        x: float = 0

    class OtherClick(ActionBase):
        action: Literal["click"] = "click"

    with pytest.raises(TypeError, match="needs an 'action' field"):
        tools.register(NoName)
    with pytest.raises(TypeError, match="not two of its fields"):
        tools.register(BadPoints)
    with pytest.raises(ValueError, match="'click' is already registered"):
        tools.register(OtherClick)
    with pytest.raises(TypeError, match="keyed by tool model"):
        BrowserEnv.handlers["click"] = hover_in_browser  # type: ignore[index]
    assert "bad_points" not in REGISTRY and REGISTRY.get("click") is tools.Click


def test_only_the_env_given_a_handler_supports_the_tool(hover: type[Hover]) -> None:
    assert "hover" in BrowserEnv.supported_actions
    assert "hover" in MiniWobEnv.supported_actions  # a subclass inherits handlers added later
    assert "hover" in BrowserEnv().tools.names
    assert "hover" not in AndroidEnv.supported_actions
    geometry = ScreenGeometry(width=100, height=100, device_scale_factor=1.0, viewport_width=100, viewport_height=100)
    result = AndroidEnv().execute(Hover(x=5, y=5), geometry)  # refused before any device is needed
    assert not result.ok and "hover is not supported by the android environment" in (result.error or "")


def test_the_browser_runs_a_registered_tool_in_chromium(
    hover: type[Hover], browser: BrowserEnv, http_server: str
) -> None:
    browser.reset(StartSpec(url=f"{http_server}/env_actions.html", viewport=Viewport(width=400, height=300)))
    obs = browser.observe()
    browser.page.evaluate(
        "window.moves = []; document.getElementById('pad')"
        ".addEventListener('mousemove', e => window.moves.push([e.clientX, e.clientY]))"
    )
    result = browser.execute(Hover(x=120, y=60), obs.geometry)
    assert result.ok, result.error
    assert browser.page.evaluate("window.moves")[-1] == [120, 60]
    assert browser.page.evaluate("window.log") == []  # moved over the pad, never clicked it
    outside = browser.execute(Hover(x=5000, y=60), obs.geometry)  # its point_fields get the bounds check
    assert not outside.ok and "outside" in (outside.error or "")


def test_overlay_and_scoring_read_the_tools_metadata(hover: type[Hover]) -> None:
    svg = action_svg({"action": "hover", "x": 120.0, "y": 60.0}, 400, 300)
    assert '<circle cx="120.0" cy="60.0"' in svg and ">hover</text>" in svg
    assert action_group({"action": "hover", "x": 1, "y": 2}) == "hover"
    gold = {"action": "hover", "x": 1, "y": 2}
    assert match_action(gold, {"action": "hover", "x": 300, "y": 200}, (400, 300)) == (True, True)
    assert match_action(gold, {"action": "click", "x": 1, "y": 2}, (400, 300)) == (False, False)


def test_qwen25_prompts_encodes_and_parses_a_registered_tool(hover: type[Hover]) -> None:
    dialect = get_dialect("qwen2.5-vl")
    geometry = ResizeGeometry.for_image(1280, 720)
    prompt = dialect.system_prompt("browser", geometry)
    assert '"name": "hover"' in prompt and "how long to stay there before the next step" in prompt
    assert f"pixels of the {geometry.resized_width}x{geometry.resized_height} screen" in prompt
    text = dialect.encode(Hover(x=640, y=360, settle_ms=200), geometry)
    assert text.startswith("<tool_call>") and '"name": "hover"' in text
    parsed = dialect.parse(text, geometry)
    assert isinstance(parsed.action, Hover) and parsed.action.settle_ms == 200
    tolerance = geometry.width / geometry.resized_width  # one model pixel
    assert abs(parsed.action.x - 640) <= tolerance and abs(parsed.action.y - 360) <= tolerance
    with pytest.raises(ParseError, match="outside"):
        dialect.parse('<tool_call>{"name": "hover", "arguments": {"x": 99999, "y": 5}}</tool_call>', geometry)
    with pytest.raises(ParseError, match="missing the argument 'y'"):
        dialect.parse('<tool_call>{"name": "hover", "arguments": {"x": 5}}</tool_call>', geometry)
    with pytest.raises(ParseError, match="unexpected argument 'z'"):
        dialect.parse('<tool_call>{"name": "hover", "arguments": {"x": 5, "y": 5, "z": 1}}</tool_call>', geometry)
    # the codec belongs to the dialect it was given to
    assert "hover" not in Qwen2Dialect.codecs
    with pytest.raises(ValueError, match="cannot express"):
        get_dialect("qwen2-vl").encode(Hover(x=640, y=360), geometry)


def test_without_its_rows_the_tool_is_unknown_everywhere() -> None:
    geometry = ResizeGeometry.for_image(1280, 720)
    assert "hover" not in REGISTRY and "hover" not in BrowserEnv.supported_actions
    with pytest.raises(ParseError, match="unknown tool 'hover'"):
        get_dialect("qwen2.5-vl").parse(
            '<tool_call>{"name": "hover", "arguments": {"x": 5, "y": 5}}</tool_call>', geometry
        )
    assert "hover" not in get_dialect("qwen2.5-vl").system_prompt("browser", geometry)


#: Modules that may spell two or more tool names in one literal, and why: each is another vocabulary
#: that happens to share words with the tools, not a list of the tools.
ALLOWED = {
    "agent/qwen/dialects/qwen2.py": "UI-TARS's own verbs, mapped onto tools by the dialect",
    "agent/qwen/dialects/qwen25.py": "the Qwen2.5-VL cookbook's own verbs, mapped onto tools by the dialect",
    "agent/qwen/dialects/showui.py": "ShowUI's own verbs",
    "agent/hooks.py": "names of the debugger's confirm rules (open_app, navigate), each one behaviour",
    "env/android/keys.py": "Android key names (home, back)",
    "tasks/bench/synth.py": "UI label words of the synthetic screens",
}


def _tool_name_lists(path: Path, names: set[str]) -> list[str]:
    """Each literal tuple, list, set or dict (keys) holding two or more tool names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        else:
            continue
        hits = [e.value for e in items if isinstance(e, ast.Constant) and e.value in names]
        if len(hits) >= 2:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {hits}")
    return found


def test_no_module_outside_tools_keeps_a_list_of_tool_names() -> None:
    names = {t.tool_name() for t in tools.BUILTIN_TOOLS}
    offenders = []
    for folder in ("agent", "env", "tasks", "pixelpilot"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() not in ALLOWED:
                offenders += _tool_name_lists(path, names)
    assert offenders == [], "read the tools' metadata instead:\n" + "\n".join(offenders)
    # the scan itself finds what it is meant to find
    assert _tool_name_lists(ROOT / "agent/qwen/dialects/qwen2.py", names)
