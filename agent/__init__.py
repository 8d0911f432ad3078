"""The agent loop, policies, episode bundles, reports and the CLI."""

from pixelpilot.agent.episode import EpisodeRecorder, EpisodeSpec, StepRecord, read_bundle
from pixelpilot.agent.loop import Agent, AgentConfig, EpisodeResult
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.scripted import ScriptedPolicy, ScriptError

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
