"""The agent loop, policies, episode bundles, reports and the CLI."""

from loguru import logger as _logger

from agent.episode import EpisodeRecorder, EpisodeSpec, StepRecord, read_bundle
from agent.loop import Agent, AgentConfig, EpisodeResult
from agent.policy import Decision, Policy
from agent.scripted import ScriptedPolicy, ScriptError

__all__ = [
    "Agent",
    "AgentConfig",
    "Decision",
    "EpisodeRecorder",
    "EpisodeResult",
    "EpisodeSpec",
    "Policy",
    "ScriptError",
    "ScriptedPolicy",
    "StepRecord",
    "read_bundle",
]

# A library keeps quiet until its application asks (agent/logs.py: enable_logging).
_logger.disable(__name__)
