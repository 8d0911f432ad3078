"""Environment adapters (browser, Android) and the coordinate contract."""

from loguru import logger as _logger

from env.base import ActionResult, Env, EnvError, Observation
from env.geometry import ScreenGeometry, out_of_bounds
from env.spec import (
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

# A library keeps quiet until its application asks (agent/logs.py: enable_logging).
_logger.disable(__name__)
