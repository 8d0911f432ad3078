"""A dialect = system prompt + output parser + coordinate codec for one family of models.

Every dialect maps the model's own tool vocabulary onto pixelpilot's tools and converts
coordinates through the exact ResizeGeometry of the step, so an action always comes out in
screenshot pixels of the observation it was decided on.

Tools beyond that vocabulary (a plugin's) are one codec each in the dialect's ``codecs`` table
(:mod:`pixelpilot.agent.qwen.dialects.codecs`), consulted before the verbs: ``encode`` here, and the
prompt and parser of dialects that offer such tools (Qwen2.5-VL's JSON tool calls).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.qwen.dialects.codecs import CodecTable, PointSpace, ToolCodec
from pixelpilot.agent.qwen.parse_errors import ParseError, TruncatedOutputError
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.tools import ActionBase, action_name

#: An env kind's name (env/registry.py). Dialects word prompts and actions by its input modality
#: (env.registry.input_modality: "touch" or "pointer"), never by the name itself.
EnvKind = str


class ParsedOutput(BaseModel):
    """A successfully parsed model output."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    action: ActionBase = Field(description="in screenshot pixels")
    call: dict[str, Any] = Field(description="the tool call as the model wrote it (model space)")
    extra_calls: list[dict[str, Any]] = Field(default_factory=list, description="further calls, not executed")
    thought: str | None = Field(None, description="reasoning text around the call, if any")


class Dialect(ABC):
    """Prompt + parser + codec. Stateless: safe to share between episodes and threads."""

    name: ClassVar[str]
    #: How the policy must decode generated ids: False where the parser reads special tokens
    #: (Qwen2-VL's ``<|box_start|>``), which ``skip_special_tokens=True`` would strip.
    skip_special_tokens: ClassVar[bool] = True
    #: The numbers this family's models write for a point (codecs convert through it).
    point_space: ClassVar[PointSpace]
    #: (min_pixels, max_pixels) this family's models were trained and parse at, used where the user
    #: leaves the pixel limits at pixelpilot's defaults (UI-TARS-1.5's own smart_resize limits); None: the defaults.
    pixel_limits: ClassVar[tuple[int, int] | None] = None
    #: Codecs of tools outside the model's own verbs, by tool name; each dialect class has its own.
    codecs: ClassVar[CodecTable] = CodecTable()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.codecs = CodecTable()

    @classmethod
    def register_codec(cls, codec: ToolCodec) -> ToolCodec:
        """Let this dialect's models call ``codec.tool`` (a tool registered at run time)."""
        return cls.codecs.add(codec)

    def codec_for(self, action: ActionBase) -> ToolCodec | None:
        codec = self.codecs.get(action_name(type(action)))
        return codec if codec is not None and codec.tool is type(action) else None

    @abstractmethod
    def system_prompt(self, env: EnvKind, geometry: ResizeGeometry) -> str:
        """The system message: role, tool schema (written into the text; the chat template ignores
        ``tools=``), the coordinate convention and, where the dialect uses absolute coordinates,
        the resized image size."""

    @abstractmethod
    def parse(
        self, text: str, geometry: ResizeGeometry, env: EnvKind = "browser", *, at_token_limit: bool = False
    ) -> ParsedOutput:
        """Model text -> action in screenshot px. Raises ParseError (TruncatedOutputError for output
        cut off inside a call). ``at_token_limit``: generation stopped on max_new_tokens, so the text
        may end anywhere; nothing that runs to its end is completed (not even a missing last brace,
        which a model that stopped by itself is forgiven)."""

    def encode(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        """Action in screenshot px -> the text this dialect's model would emit for it (used for
        history, training targets and round-trip tests). Raises ValueError for actions the
        dialect cannot express."""
        codec = self.codec_for(action)
        if codec is not None:
            return codec.encode(action, geometry, self.point_space)
        return self.encode_verb(action, geometry, env)

    @abstractmethod
    def encode_verb(self, action: ActionBase, geometry: ResizeGeometry, env: EnvKind = "browser") -> str:
        """``encode`` for the tools the model's own verbs express."""

    def describe_action(self, action: dict[str, Any]) -> str:
        """One line of history text for an executed action (screenshot-independent)."""
        args = ", ".join(f"{k}={v!r}" for k, v in action.items() if k != "action")
        return f"{action.get('action')}({args})"


__all__ = ["Dialect", "EnvKind", "ParseError", "ParsedOutput", "TruncatedOutputError"]
