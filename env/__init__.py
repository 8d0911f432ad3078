"""Environment adapters (browser, Android) and the coordinate contract."""

from pixelpilot.env.base import ActionResult, Env, EnvError, Observation
from pixelpilot.env.geometry import ScreenGeometry, out_of_bounds
from pixelpilot.env.spec import (
    AnswerCheck,
    Evaluation,
    JsCheck,
    NoCheck,
    ShellCheck,
    StartSpec,
    SuccessCheck,
    TextCheck,
    UiCheck,
    UrlCheck,
    Viewport,
)

__all__ = [
    "ActionResult",
    "AnswerCheck",
    "Env",
    "EnvError",
    "Evaluation",
    "JsCheck",
    "NoCheck",
    "Observation",
    "ScreenGeometry",
    "ShellCheck",
    "StartSpec",
    "SuccessCheck",
    "TextCheck",
    "UiCheck",
    "UrlCheck",
    "Viewport",
    "out_of_bounds",
]
