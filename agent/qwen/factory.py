"""Building a QwenPolicy from user-facing options (CLI flags, config files).

Keeps the choice of backend and dialect, and the errors a user can act on, in one place.
"""

from __future__ import annotations

from pixelpilot.agent.qwen.backends.base import Backend, BackendError, SamplingConfig
from pixelpilot.agent.qwen.dialects import DIALECTS, infer_dialect
from pixelpilot.agent.qwen.families import resolve_resize_factor
from pixelpilot.agent.qwen.policy import QwenPolicy, QwenPolicyConfig
from pixelpilot.agent.qwen.prompt import PromptConfig
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS


def make_backend(
    model: str,
    *,
    endpoint: str | None = None,
    api_key_env: str = "PIXELPILOT_API_KEY",
    timeout_s: float = 60.0,
    device: str | None = None,
    dtype: str | None = None,
    attn_implementation: str | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    check: bool = True,
) -> Backend:
    """A served backend when ``endpoint`` is given, else a local transformers one."""
    if endpoint:
        from pixelpilot.agent.qwen.backends.served import ServedBackend

        backend = ServedBackend(endpoint, model, api_key_env=api_key_env, timeout_s=timeout_s)
        if check:
            backend.check()
        return backend
    try:
        from pixelpilot.agent.qwen.backends.local import LocalBackend
    except ImportError as exc:
        raise BackendError(
            f"the local backend needs torch and transformers ({exc.name} is missing): "
            "pip install 'pixelpilot[local]', or serve the model and pass --endpoint"
        ) from None
    kwargs = {k: v for k, v in {"min_pixels": min_pixels, "max_pixels": max_pixels}.items() if v is not None}
    return LocalBackend(model, device=device, dtype=dtype, attn_implementation=attn_implementation, **kwargs)


def make_policy(
    model: str,
    *,
    endpoint: str | None = None,
    dialect: str | None = None,
    prompt: PromptConfig | None = None,
    sampling: SamplingConfig | None = None,
    max_repairs: int = 2,
    resize_factor: int | None = None,
    **backend_options: object,
) -> QwenPolicy:
    """A policy for ``model``. Its resize factor comes from ``resize_factor``, else the model folder's
    processor config, its id, or an explicit ``dialect`` (families.resolve_resize_factor); when none
    knows it, a ResizeFactorError (a ValueError), after the backend has been reached, so an unreachable
    endpoint is reported as such first."""
    name = dialect or infer_dialect(model)
    if name not in DIALECTS:
        raise ValueError(f"unknown dialect {name!r}; known: {', '.join(DIALECTS)}")
    prompt = prompt or PromptConfig()
    limits = DIALECTS[name].pixel_limits
    if limits is not None and (prompt.min_pixels, prompt.max_pixels) == (DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS):
        # the family's own limits (UI-TARS-1.5's), unless the user chose some; the server resizes with them too
        prompt = prompt.model_copy(update={"min_pixels": limits[0], "max_pixels": limits[1]})
    backend = make_backend(
        model, endpoint=endpoint, min_pixels=prompt.min_pixels, max_pixels=prompt.max_pixels, **backend_options
    )  # type: ignore[arg-type]
    try:
        choice = resolve_resize_factor(model, explicit=resize_factor, dialect=dialect, local=not endpoint)
    except ValueError:
        backend.close()
        raise
    prompt = prompt.model_copy(update={"resize_factor": choice.factor})
    config = QwenPolicyConfig(prompt=prompt, sampling=sampling or SamplingConfig(), max_repairs=max_repairs)
    return QwenPolicy(backend, name, config)
