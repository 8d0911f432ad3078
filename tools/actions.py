"""The action space: one pydantic model per tool, and the metadata every other layer reads.

Every coordinate is in *screenshot pixels* of the observation the action was decided on
(device pixels at native resolution). Environments convert to their own input space; nothing
else in the framework rescales.

A tool is one row per layer: this model (its fields and the class-level metadata below), a handler
in each env that runs it (``Env.handlers``), a codec in each dialect that can express it
(``Dialect.codecs``). Nothing else names tools: overlays, the debugger, training and step-level
scoring read ``point_fields``, ``family``, ``terminal`` and ``marker`` instead of keeping lists.

The built-in tools are prompted in each model family's own trained vocabulary (see the dialects),
so their ``Field(description=...)`` texts are documentation for people and for ``pixelpilot tools``.
A tool added at run time and expressed through a dialect's generic function-call codec is
different: its JSON schema, descriptions included, is what the model reads in the system prompt,
so write those descriptions for the model.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Coord = Annotated[float, Field(ge=0, description="screenshot pixels, origin top-left")]

#: How an env takes input. A tool lists the modalities that can carry it; the env registry says which
#: an env offers, and dialects word their prompts by it (tap on touch, click with a pointer).
Modality = Literal["pointer", "touch", "keys", "navigation", "app"]
#: What kind of act a tool is, for consumers that treat tools by kind rather than by name:
#: ``tap`` acts on the element under its one point (the point is a target), ``gesture`` moves content
#: (scroll, swipe, drag), ``text`` enters text, ``press`` presses a button or key, ``end`` ends the
#: episode with a verdict. None: a kind of its own (navigate, open_app, wait).
Family = Literal["tap", "gesture", "text", "press", "end"]


class ActionBase(BaseModel):
    """Common behaviour: forbid unknown fields so typos in model output are caught, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Points the action touches, as (x, y) field pairs in screenshot pixels: bounds checks, overlays,
    #: click-to-act in the debugger and every dialect's coordinate codec read them. One pair: a point
    #: action; two pairs: a path from the first point to the second.
    point_fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: The input modalities that can carry the tool: an env offering any one of them can run it, given a
    #: handler. Empty: needs no input at all (wait, answer, finish).
    modalities: ClassVar[frozenset[Modality]] = frozenset()
    #: What kind of act this is (see :data:`Family`); None for a kind of its own.
    family: ClassVar[Family | None] = None
    #: Executing it ends the episode (answer, finish).
    terminal: ClassVar[bool] = False
    #: A short word drawn beside the action's point in overlays ("double", "hold"); empty: none.
    marker: ClassVar[str] = ""

    @classmethod
    def tool_name(cls) -> str:
        """The name models, scripts and episode bundles call the tool by (its ``action`` literal)."""
        return action_name(cls)

    def points(self) -> list[tuple[float, float]]:
        return [(getattr(self, fx), getattr(self, fy)) for fx, fy in self.point_fields]


_SCREEN: frozenset[Modality] = frozenset({"pointer", "touch"})


class _PointAction(ActionBase):
    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "y"),)
    modalities: ClassVar[frozenset[Modality]] = _SCREEN
    family: ClassVar[Family | None] = "tap"
    x: Coord
    y: Coord


class Click(_PointAction):
    """Left-click (or tap) at a point."""

    action: Literal["click"] = "click"


class DoubleClick(_PointAction):
    """Double-click at a point."""

    marker: ClassVar[str] = "double"
    action: Literal["double_click"] = "double_click"


class RightClick(_PointAction):
    """Right-click at a point (opens context menus)."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"pointer"})
    marker: ClassVar[str] = "right"
    action: Literal["right_click"] = "right_click"


class MiddleClick(_PointAction):
    """Middle-click at a point (opens links in a new tab, pastes the X selection)."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"pointer"})
    marker: ClassVar[str] = "middle"
    action: Literal["middle_click"] = "middle_click"


class MouseMove(ActionBase):
    """Move the pointer to a point without pressing anything: menus and tooltips that open on hover."""

    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "y"),)
    modalities: ClassVar[frozenset[Modality]] = frozenset({"pointer"})
    marker: ClassVar[str] = "hover"
    action: Literal["mouse_move"] = "mouse_move"
    x: Coord
    y: Coord


class LongPress(_PointAction):
    """Press and hold at a point."""

    marker: ClassVar[str] = "hold"
    action: Literal["long_press"] = "long_press"
    duration_ms: int = Field(800, ge=1, le=10_000, description="how long to hold, in milliseconds")


class _FromToAction(ActionBase):
    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("start_x", "start_y"), ("end_x", "end_y"))
    modalities: ClassVar[frozenset[Modality]] = _SCREEN
    family: ClassVar[Family | None] = "gesture"
    start_x: Coord
    start_y: Coord
    end_x: Coord
    end_y: Coord


class Drag(_FromToAction):
    """Press at the start point, move to the end point, release (drag and drop, sliders, selection)."""

    action: Literal["drag"] = "drag"


class Swipe(_FromToAction):
    """A touch swipe from the start point to the end point (mobile)."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"touch"})
    action: Literal["swipe"] = "swipe"
    duration_ms: int = Field(300, ge=1, le=10_000, description="swipe duration in milliseconds")


class Type(ActionBase):
    """Type text into the focused element. Click the field first if it is not focused."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"keys"})
    family: ClassVar[Family | None] = "text"
    action: Literal["type"] = "type"
    text: str = Field(description="the text to type, any language")
    press_enter: bool = Field(False, description="press Enter after typing")
    clear: bool = Field(False, description="clear the field's current content before typing")


class Key(ActionBase):
    """Press a key or a key combination such as 'Enter', 'Escape', 'ctrl+a', 'shift+Tab'."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"keys"})
    family: ClassVar[Family | None] = "press"
    action: Literal["key"] = "key"
    keys: str = Field(min_length=1, description="key name or combo joined with '+'")


class Scroll(_PointAction):
    """Scroll the content under a point."""

    family: ClassVar[Family | None] = "gesture"
    action: Literal["scroll"] = "scroll"
    direction: Literal["up", "down", "left", "right"]
    amount: float = Field(400, gt=0, description="distance in screenshot pixels")


class Navigate(ActionBase):
    """Open a URL in the current tab."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"navigation"})
    action: Literal["navigate"] = "navigate"
    url: str = Field(min_length=1)


class Back(ActionBase):
    """Go back (browser history, or the Android back button)."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"navigation", "app"})
    family: ClassVar[Family | None] = "press"
    action: Literal["back"] = "back"


class Home(ActionBase):
    """Go to the home screen (mobile)."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"app"})
    family: ClassVar[Family | None] = "press"
    action: Literal["home"] = "home"


class OpenApp(ActionBase):
    """Open an app by its name or package (mobile)."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({"app"})
    action: Literal["open_app"] = "open_app"
    app: str = Field(min_length=1, description="app label (e.g. 'Settings') or package name")


class Wait(ActionBase):
    """Wait for the screen to change (loading, animations)."""

    action: Literal["wait"] = "wait"
    seconds: float = Field(1.0, ge=0, le=60)


class Answer(ActionBase):
    """Give the answer to an information-seeking task; ends the episode."""

    family: ClassVar[Family | None] = "end"
    terminal: ClassVar[bool] = True
    action: Literal["answer"] = "answer"
    text: str


class Finish(ActionBase):
    """Declare the task done (success) or impossible (failure); ends the episode."""

    family: ClassVar[Family | None] = "end"
    terminal: ClassVar[bool] = True
    action: Literal["finish"] = "finish"
    status: Literal["success", "failure"] = "success"
    message: str = ""


def action_name(cls: type[ActionBase]) -> str:
    """A tool model's name: the default of its ``action`` field."""
    return cls.model_fields["action"].default


#: The built-in tools, in the order schemas are listed. The one definition: ``Action`` and the
#: registry's starting set derive from it; tools defined elsewhere join through ``tools.register``.
BUILTIN_TOOLS: tuple[type[ActionBase], ...] = (
    Click,
    DoubleClick,
    RightClick,
    MiddleClick,
    MouseMove,
    LongPress,
    Drag,
    Type,
    Key,
    Scroll,
    Swipe,
    Navigate,
    Back,
    Home,
    OpenApp,
    Wait,
    Answer,
    Finish,
)
ALL_ACTIONS = BUILTIN_TOOLS  # the older name

#: A built-in action, discriminated by its ``action`` name (for pydantic fields; a tool registered at
#: run time validates through ``tools.REGISTRY`` instead).
Action = Annotated[Union[BUILTIN_TOOLS], Field(discriminator="action")]  # type: ignore[valid-type]

#: Built-in actions that end the episode when executed (``terminal``); ``REGISTRY.terminal`` also
#: counts tools registered at run time.
TERMINAL_ACTIONS = frozenset(action_name(t) for t in BUILTIN_TOOLS if t.terminal)
