"""The action space: one pydantic model per tool.

Every coordinate is in *screenshot pixels* of the observation the action was decided on
(device pixels at native resolution). Environments convert to their own input space; nothing
else in the framework rescales. Each ``Field(description=...)`` doubles as the documentation a
model reads in its prompt, so descriptions are written for the model.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Coord = Annotated[float, Field(ge=0, description="screenshot pixels, origin top-left")]


class ActionBase(BaseModel):
    """Common behaviour: forbid unknown fields so typos in model output are caught, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Points the action touches, as (x, y) pairs; used for bounds checks and overlays.
    point_fields: ClassVar[tuple[tuple[str, str], ...]] = ()

    def points(self) -> list[tuple[float, float]]:
        return [(getattr(self, fx), getattr(self, fy)) for fx, fy in self.point_fields]


class _PointAction(ActionBase):
    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("x", "y"),)
    x: Coord
    y: Coord


class Click(_PointAction):
    """Left-click (or tap) at a point."""

    action: Literal["click"] = "click"


class DoubleClick(_PointAction):
    """Double-click at a point."""

    action: Literal["double_click"] = "double_click"


class RightClick(_PointAction):
    """Right-click at a point (opens context menus)."""

    action: Literal["right_click"] = "right_click"


class LongPress(_PointAction):
    """Press and hold at a point."""

    action: Literal["long_press"] = "long_press"
    duration_ms: int = Field(800, ge=1, le=10_000, description="how long to hold, in milliseconds")


class _FromToAction(ActionBase):
    point_fields: ClassVar[tuple[tuple[str, str], ...]] = (("start_x", "start_y"), ("end_x", "end_y"))
    start_x: Coord
    start_y: Coord
    end_x: Coord
    end_y: Coord


class Drag(_FromToAction):
    """Press at the start point, move to the end point, release (drag and drop, sliders, selection)."""

    action: Literal["drag"] = "drag"


class Swipe(_FromToAction):
    """A touch swipe from the start point to the end point (mobile)."""

    action: Literal["swipe"] = "swipe"
    duration_ms: int = Field(300, ge=1, le=10_000, description="swipe duration in milliseconds")


class Type(ActionBase):
    """Type text into the focused element. Click the field first if it is not focused."""

    action: Literal["type"] = "type"
    text: str = Field(description="the text to type, any language")
    press_enter: bool = Field(False, description="press Enter after typing")
    clear: bool = Field(False, description="clear the field's current content before typing")


class Key(ActionBase):
    """Press a key or a key combination such as 'Enter', 'Escape', 'ctrl+a', 'shift+Tab'."""

    action: Literal["key"] = "key"
    keys: str = Field(min_length=1, description="key name or combo joined with '+'")


class Scroll(_PointAction):
    """Scroll the content under a point."""

    action: Literal["scroll"] = "scroll"
    direction: Literal["up", "down", "left", "right"]
    amount: float = Field(400, gt=0, description="distance in screenshot pixels")


class Navigate(ActionBase):
    """Open a URL in the current tab."""

    action: Literal["navigate"] = "navigate"
    url: str = Field(min_length=1)


class Back(ActionBase):
    """Go back (browser history, or the Android back button)."""

    action: Literal["back"] = "back"


class Home(ActionBase):
    """Go to the home screen (mobile)."""

    action: Literal["home"] = "home"


class OpenApp(ActionBase):
    """Open an app by its name or package (mobile)."""

    action: Literal["open_app"] = "open_app"
    app: str = Field(min_length=1, description="app label (e.g. 'Settings') or package name")


class Wait(ActionBase):
    """Wait for the screen to change (loading, animations)."""

    action: Literal["wait"] = "wait"
    seconds: float = Field(1.0, ge=0, le=60)


class Answer(ActionBase):
    """Give the answer to an information-seeking task; ends the episode."""

    action: Literal["answer"] = "answer"
    text: str


class Finish(ActionBase):
    """Declare the task done (success) or impossible (failure); ends the episode."""

    action: Literal["finish"] = "finish"
    status: Literal["success", "failure"] = "success"
    message: str = ""


Action = Annotated[
    Union[
        Click,
        DoubleClick,
        RightClick,
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
    ],
    Field(discriminator="action"),
]

ALL_ACTIONS: tuple[type[ActionBase], ...] = (
    Click,
    DoubleClick,
    RightClick,
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

#: Actions that end the episode when executed.
TERMINAL_ACTIONS = frozenset({"answer", "finish"})


def action_name(cls: type[ActionBase]) -> str:
    return cls.model_fields["action"].default
