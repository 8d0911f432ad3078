"""pixelpilot's action space: typed tools, their JSON schemas, and validation. No I/O."""

from loguru import logger as _logger

from tools.actions import (
    ALL_ACTIONS,
    TERMINAL_ACTIONS,
    Action,
    ActionBase,
    Answer,
    Back,
    Click,
    DoubleClick,
    Drag,
    Finish,
    Home,
    Key,
    LongPress,
    Navigate,
    OpenApp,
    RightClick,
    Scroll,
    Swipe,
    Type,
    Wait,
)
from tools.registry import REGISTRY, ToolRegistry, ToolValidationError, validate_action

__all__ = [
    "ALL_ACTIONS",
    "REGISTRY",
    "TERMINAL_ACTIONS",
    "Action",
    "ActionBase",
    "Answer",
    "Back",
    "Click",
    "DoubleClick",
    "Drag",
    "Finish",
    "Home",
    "Key",
    "LongPress",
    "Navigate",
    "OpenApp",
    "RightClick",
    "Scroll",
    "Swipe",
    "ToolRegistry",
    "ToolValidationError",
    "Type",
    "Wait",
    "validate_action",
]

# A library keeps quiet until its application asks (agent/logs.py: enable_logging).
_logger.disable(__name__)
