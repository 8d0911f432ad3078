"""pixelpilot: GUI and mobile agents driven by Qwen2-VL-family models.

One import name for the whole framework: ``pixelpilot.tools`` (the action space), ``pixelpilot.env``
(browser and Android adapters), ``pixelpilot.agent`` (the loop, policies, bundles, debugger) and
``pixelpilot.tasks`` (task files and benchmark suites). The names below are the small public face;
they load on first use, so ``import pixelpilot.tools`` does not start Playwright or torch.

The library logs nothing until its application asks: :func:`enable_logging`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from loguru import logger as _logger

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "Agent": "pixelpilot.agent.loop",
    "AgentConfig": "pixelpilot.agent.loop",
    "EpisodeResult": "pixelpilot.agent.loop",
    "Policy": "pixelpilot.agent.policy",
    "Decision": "pixelpilot.agent.policy",
    "ScriptedPolicy": "pixelpilot.agent.scripted",
    "QwenPolicy": "pixelpilot.agent.qwen.policy",
    "PolicySpec": "pixelpilot.agent.policy_spec",
    "read_bundle": "pixelpilot.agent.episode",
    "BrowserEnv": "pixelpilot.env.browser",
    "BrowserConfig": "pixelpilot.env.browser",
    "AndroidEnv": "pixelpilot.env.android",
    "AndroidConfig": "pixelpilot.env.android",
    "Task": "pixelpilot.tasks",
    "EXAMPLES_DIR": "pixelpilot.tasks",
    "enable_logging": "pixelpilot.agent.logs",
    "disable_logging": "pixelpilot.agent.logs",
}

__all__ = [
    "EXAMPLES_DIR",
    "Agent",
    "AgentConfig",
    "AndroidConfig",
    "AndroidEnv",
    "BrowserConfig",
    "BrowserEnv",
    "Decision",
    "EpisodeResult",
    "Policy",
    "PolicySpec",
    "QwenPolicy",
    "ScriptedPolicy",
    "Task",
    "__version__",
    "disable_logging",
    "enable_logging",
    "read_bundle",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from pixelpilot.agent.episode import read_bundle
    from pixelpilot.agent.logs import disable_logging, enable_logging
    from pixelpilot.agent.loop import Agent, AgentConfig, EpisodeResult
    from pixelpilot.agent.policy import Decision, Policy
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.agent.qwen.policy import QwenPolicy
    from pixelpilot.agent.scripted import ScriptedPolicy
    from pixelpilot.env.android import AndroidConfig, AndroidEnv
    from pixelpilot.env.browser import BrowserConfig, BrowserEnv
    from pixelpilot.tasks import EXAMPLES_DIR, Task


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pixelpilot' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


# A library keeps quiet until its application asks (enable_logging).
_logger.disable(__name__)
