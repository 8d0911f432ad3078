"""A policy described as plain data, so it can be built anywhere (a CLI, a worker process, a Ray task).

Benchmark workers run in other processes or on other machines; they get this small model instead of
a loaded policy and build their own. Its ``run_identity`` is what a benchmark run key hashes: two
results are comparable only when these fields agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.policy import Policy
from pixelpilot.agent.qwen.env_inputs import EnvInputsTable
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS
from pixelpilot.agent.qwen.zoom import DEFAULT_CROP, DEFAULT_FIRST_MAX_PIXELS

#: Where the embedded default model lives (``--model default``).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "qwen" / "default_model"


#: Settings that change what the model sees; overriding a trained folder's value earns a warning.
_TRAINED_INPUTS = ("min_pixels", "max_pixels")
_warned: set[tuple[str, str, object]] = set()


def _warn_once(folder: Path, setting: str, given: object, trained: object) -> None:
    """Say once per process that an explicit option departs from what the model was trained at."""
    key = (str(folder), setting, given)
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(
        "{} was trained with {}={}; using {} as asked (expect lower accuracy)",
        folder.name if folder != DEFAULT_MODEL_DIR else "the default model",
        setting.replace("_", "-"),
        trained,
        given,
    )


def _inputs_identity(table: EnvInputsTable) -> dict[str, dict[str, int]]:
    return {kind: inputs.model_dump() for kind, inputs in sorted(table.items())}


class PolicySpecError(ValueError):
    """The options cannot make a policy (missing model, bad pixel limits, unreachable endpoint)."""


class PolicySpec(BaseModel):
    """Who decides. ``kind`` 'oracle' means the suite's own reference policy (e.g. MiniWoB's DOM oracle)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["qwen", "scripted", "oracle", "baseline"] = "qwen"
    model: str | None = Field(None, description="hub id or folder (local), or the served model's name")
    endpoint: str | None = None
    dialect: str | None = None
    min_pixels: int = Field(DEFAULT_MIN_PIXELS, ge=28 * 28)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=28 * 28)
    resize_factor: int | None = Field(
        None, ge=2, le=256, description="px per visual token side (patch x merge); None: the model folder's or id's"
    )
    history: int = Field(8, ge=0)
    history_images: int = Field(0, ge=0)
    max_repairs: int = Field(2, ge=0)
    sample: bool = False
    temperature: float = Field(0.7, gt=0)
    seed: int | None = None
    max_new_tokens: int = Field(256, ge=1)
    device: str | None = None
    dtype: str | None = None
    attn: str | None = None
    api_key_env: str = "PIXELPILOT_API_KEY"
    request_timeout: float = Field(60.0, gt=0)
    script: Path | None = Field(None, description="scripted policy: the actions file")
    system_prompt: str | None = Field(None, description="set from a trained model's pixelpilot.json")
    env_inputs: EnvInputsTable | None = Field(
        None, description="pixel limits per env kind; set from a trained model's pixelpilot.json ('inputs')"
    )
    baseline_data: Path | None = Field(None, description="baseline policy: the training set to average")
    blank_screenshot: bool = Field(False, description="ablation: the policy sees a grey screenshot")
    zoom: bool = Field(False, description="zoom-in grounding: a low-budget overview, then a native-resolution crop")
    zoom_max_pixels: int = Field(DEFAULT_FIRST_MAX_PIXELS, ge=28 * 28, description="zoom: the overview's max_pixels")
    zoom_crop: int = Field(DEFAULT_CROP, ge=56, le=4096, description="zoom: side of the crop, screenshot px")

    def check(self) -> PolicySpec:
        """Raise PolicySpecError (one line) for option combinations that cannot make a policy."""
        if self.kind == "qwen" and not self.model:
            raise PolicySpecError(
                "a Qwen2-VL policy needs --model (a hub id or folder, or the served model's name with --endpoint)"
            )
        if self.min_pixels > self.max_pixels:
            raise PolicySpecError(f"--min-pixels ({self.min_pixels}) must not exceed --max-pixels ({self.max_pixels})")
        if self.zoom and self.kind != "qwen":
            raise PolicySpecError(f"--zoom needs a model (--model): the {self.kind} policy does not ground in passes")
        return self

    def resolved(self) -> PolicySpec:
        """``default`` as the shipped model's folder, and a trained folder's pixelpilot.json applied:
        its dialect (unless --dialect), system prompt, and pixel, history and decoding settings
        (unless changed)."""
        if self.kind != "qwen" or not self.model:
            return self
        from pixelpilot.agent.train.format import ModelMetaError, read_model_meta

        model = self.model
        if model == "default":
            model = str(DEFAULT_MODEL_DIR)
            if not (DEFAULT_MODEL_DIR / "config.json").is_file():
                raise PolicySpecError(
                    "no default model is shipped in this version yet (its training recipe is "
                    "scripts/train_default_model.py; see docs/TRAINING.md)"
                )
        folder = Path(model)
        try:
            meta = read_model_meta(folder) if folder.is_dir() else None
        except ModelMetaError as exc:
            raise PolicySpecError(str(exc)) from None
        if meta is None:
            return self.model_copy(update={"model": model})
        defaults = PolicySpec.model_fields
        update: dict[str, Any] = {
            "model": model,
            "dialect": self.dialect or meta.dialect,
            "system_prompt": meta.system_prompt,
        }
        for mine, theirs in (
            ("min_pixels", "min_pixels"),
            ("max_pixels", "max_pixels"),
            ("history", "history_actions"),
            ("max_new_tokens", "max_new_tokens"),
            ("max_repairs", "max_repairs"),
        ):
            trained = getattr(meta, theirs)
            if trained is None:
                continue
            if getattr(self, mine) == defaults[mine].default:
                update[mine] = trained
            elif mine in _TRAINED_INPUTS and getattr(self, mine) != trained:
                _warn_once(folder, mine, getattr(self, mine), trained)
        # the per-env budgets apply where the user left the pixel limits alone: an explicit limit wins everywhere
        pixels_default = all(getattr(self, f) == defaults[f].default for f in _TRAINED_INPUTS)
        if meta.inputs and self.env_inputs is None and pixels_default:
            update["env_inputs"] = meta.inputs
        return self.model_copy(update=update)

    def resolved_dialect(self) -> str | None:
        if self.kind != "qwen":
            return None
        from pixelpilot.agent.qwen.dialects import infer_dialect

        spec = self.resolved()
        return spec.dialect or infer_dialect(spec.model or "")

    def resolved_resize_factor(self) -> int | None:
        """The model's resize factor as the built policy will use it (families.resolve_resize_factor), so
        a parent process can refuse what its workers would; PolicySpecError (one line) when nothing knows it."""
        if self.kind != "qwen":
            return None
        from pixelpilot.agent.qwen.families import resolve_resize_factor

        spec = self.resolved()
        try:
            return resolve_resize_factor(
                spec.model or "", explicit=spec.resize_factor, dialect=spec.dialect, local=not spec.endpoint
            ).factor
        except ValueError as exc:
            raise PolicySpecError(str(exc)) from None

    def run_identity(self) -> dict[str, Any]:
        """The fields that make results comparable (the benchmark run key hashes these)."""
        from pixelpilot.agent.qwen.prompt import PROMPT_VERSION

        self = self.resolved()
        identity: dict[str, Any] = {
            "policy": self.kind,
            **({"blank_screenshot": True} if self.blank_screenshot else {}),
            **({"zoom": {"max_pixels": self.zoom_max_pixels, "crop": self.zoom_crop}} if self.zoom else {}),
        }
        if self.kind == "qwen":
            identity |= {
                "model": self.model,
                "dialect": self.resolved_dialect(),
                "min_pixels": self.min_pixels,
                "max_pixels": self.max_pixels,
                **({"env_inputs": _inputs_identity(self.env_inputs)} if self.env_inputs else {}),
                **({"resize_factor": self.resize_factor} if self.resize_factor is not None else {}),
                "prompt_version": PROMPT_VERSION,
                "system_prompt": self.system_prompt,
                "history": self.history,
                "history_images": self.history_images,
                "sampling": {"sample": self.sample, "temperature": self.temperature} if self.sample else "greedy",
            }
        elif self.kind == "scripted":
            identity["script"] = str(self.script) if self.script else None
        elif self.kind == "baseline":
            identity["baseline_data"] = str(self.baseline_data)
        return identity

    def build(self, *, check: bool = True) -> Policy:
        """Load the model / open the endpoint. Raises PolicySpecError with one line on bad options."""
        if self.zoom:
            self.check()  # zoom on a policy without a model is one line, before anything loads
        policy = self._build(check=check)
        if self.zoom:
            from pixelpilot.agent.qwen.zoom import ZoomConfig, ZoomPolicy

            config = ZoomConfig(first_max_pixels=self.zoom_max_pixels, crop=self.zoom_crop)
            policy = ZoomPolicy(policy, config)  # type: ignore[arg-type]  # a qwen spec builds a QwenPolicy
        if self.blank_screenshot:
            from pixelpilot.agent.baselines import BlankScreen

            return BlankScreen(policy)
        return policy

    def _build(self, *, check: bool) -> Policy:
        self = self.resolved()
        if self.kind == "baseline":
            from pixelpilot.agent.baselines import TaskAverage

            if self.baseline_data is None:
                raise PolicySpecError("the task-average baseline needs --baseline-data DATASET")
            try:
                return TaskAverage.from_dataset(self.baseline_data)
            except (ImportError, OSError, ValueError) as exc:
                raise PolicySpecError(str(exc).splitlines()[0]) from None
        if self.kind == "scripted":
            from pixelpilot.agent.scripted import ScriptedPolicy, ScriptError

            if self.script is None:
                raise PolicySpecError("a scripted policy needs --script FILE")
            try:
                return ScriptedPolicy.from_file(self.script)
            except ScriptError as exc:
                raise PolicySpecError(str(exc)) from None
        if self.kind == "oracle":
            raise PolicySpecError("the oracle policy is provided by the benchmark suite, not built here")
        self.check()
        from pixelpilot.agent.qwen.backends.base import BackendError, SamplingConfig
        from pixelpilot.agent.qwen.factory import make_policy
        from pixelpilot.agent.qwen.prompt import PromptConfig

        prompt = PromptConfig(
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
            history_actions=self.history,
            history_images=self.history_images,
            system_prompt=self.system_prompt,
        )
        sampling = SamplingConfig(
            do_sample=self.sample, temperature=self.temperature, seed=self.seed, max_new_tokens=self.max_new_tokens
        )
        options: dict[str, object] = (
            {"api_key_env": self.api_key_env, "timeout_s": self.request_timeout, "check": check}
            if self.endpoint
            else {"device": self.device, "dtype": self.dtype, "attn_implementation": self.attn}
        )
        try:
            policy = make_policy(
                self.model or "",
                endpoint=self.endpoint,
                dialect=self.dialect,
                prompt=prompt,
                sampling=sampling,
                max_repairs=self.max_repairs,
                resize_factor=self.resize_factor,
                **options,
            )
        except (BackendError, ValueError) as exc:
            raise PolicySpecError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        if self.env_inputs:
            policy.config = policy.config.model_copy(update={"env_inputs": self.env_inputs})
        return policy
