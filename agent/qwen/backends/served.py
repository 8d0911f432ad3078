"""The served backend: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang,
`transformers serve`, hosted Qwen-VL APIs in OpenAI-compatible mode).

The screenshot travels as a base64 data URL of the bytes exactly as captured (no decode, no
re-encode). The resize geometry is computed on this side with the same smart_resize the server's
processor uses, and the pixel limits are sent along so the server resizes exactly as computed:
as ``mm_processor_kwargs`` (vLLM; both the ``min_pixels``/``max_pixels`` its Qwen2/2.5-VL
processors read and the ``size`` dict transformers 5 and Qwen3-VL's processor read) or as
``chat_template_kwargs.processor_kwargs.size`` (``transformers serve``). SGLang takes no per-request
limits (see docs/POLICY.md). With ``pixel_limits="auto"`` the first style the server rejects (HTTP
400/422 naming the field) is dropped for the next, down to sending none; the style in use is
recorded with every step. Transient failures (429, 5xx, connection errors, timeouts) are
retried with exponential backoff, honouring Retry-After.
"""

from __future__ import annotations

import base64
import os
import random
import time
from typing import Any

import httpx
from loguru import logger

from pixelpilot.agent.qwen.backends.base import Backend, BackendError, ModelRequest, ModelResponse

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
PIXEL_LIMIT_STYLES = ("mm_processor_kwargs", "chat_template_kwargs", "none")


class ServedBackend(Backend):
    name = "served"

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        api_key_env: str = "PIXELPILOT_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        pixel_limits: str = "auto",
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        if pixel_limits != "auto" and pixel_limits not in PIXEL_LIMIT_STYLES:
            raise ValueError(f"pixel_limits must be auto or one of {', '.join(PIXEL_LIMIT_STYLES)}")
        self._styles = list(PIXEL_LIMIT_STYLES) if pixel_limits == "auto" else [pixel_limits]
        self.extra_body = dict(extra_body or {})
        key = os.environ.get(api_key_env) or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Fail fast with one line when the endpoint is unreachable or does not serve the model."""
        url = f"{self.endpoint}/models"
        try:
            response = self._client.get(url, timeout=min(10.0, self.timeout_s))
        except httpx.HTTPError as exc:
            raise BackendError(
                f"endpoint {self.endpoint} is unreachable ({type(exc).__name__}: {exc}); "
                "is the server running and the URL right (it usually ends in /v1)?"
            ) from None
        if response.status_code in (401, 403):
            raise BackendError(
                f"endpoint {self.endpoint} refused the API key (HTTP {response.status_code}); set ${self.api_key_env}"
            )
        if response.status_code >= 400:
            logger.debug("{} answered HTTP {}; skipping the model check", url, response.status_code)
            return
        try:
            served = [m.get("id") for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return
        if served and self.model not in served:
            raise BackendError(
                f"endpoint {self.endpoint} does not serve model {self.model!r}; "
                f"it serves: {', '.join(map(str, served))}"
            )

    # ------------------------------------------------------------------ generate
    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        images = iter(request.images)
        messages: list[dict[str, Any]] = []
        for message in request.messages:
            content = message["content"]
            if isinstance(content, str):
                messages.append({"role": message["role"], "content": content})
                continue
            parts: list[dict[str, Any]] = []
            for part in content:
                if part.get("type") == "image":
                    image = next(images)
                    obs = image.observation
                    mime = "image/jpeg" if obs.image_format == "jpeg" else "image/png"
                    data = base64.b64encode(obs.screenshot).decode("ascii")
                    parts.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            messages.append({"role": message["role"], "content": parts})
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature if s.do_sample else 0.0,
            "top_p": s.top_p if s.do_sample else 1.0,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if request.images:
            g = request.images[0].geometry
            size = {"shortest_edge": g.min_pixels, "longest_edge": g.max_pixels}
            if self.pixel_limit_style == "mm_processor_kwargs":
                body["mm_processor_kwargs"] = {"min_pixels": g.min_pixels, "max_pixels": g.max_pixels, "size": size}
            elif self.pixel_limit_style == "chat_template_kwargs":
                body["chat_template_kwargs"] = {"processor_kwargs": {"size": size}}
        body.update(self.extra_body)
        return body

    @property
    def pixel_limit_style(self) -> str:
        return self._styles[0]

    def _rejects_style(self, response: httpx.Response) -> bool:
        """True when the server refused the request because of the pixel-limit field we added."""
        style = self.pixel_limit_style
        if style == "none" or len(self._styles) == 1 or response.status_code not in (400, 422):
            return False
        text = response.text
        return style in text or "nexpected" in text or "xtra" in text

    def generate(self, request: ModelRequest) -> ModelResponse:
        url = f"{self.endpoint}/chat/completions"
        attempts: list[str] = []
        t0 = time.perf_counter()
        attempt = 0
        while attempt <= self.max_retries:
            body = self._payload(request)
            delay = self.backoff_s * (2**attempt) * (0.8 + 0.4 * random.random())
            try:
                response = self._client.post(url, json=body)
            except httpx.TimeoutException:
                attempts.append(f"timeout after {self.timeout_s:g}s")
            except httpx.HTTPError as exc:
                attempts.append(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code < 400:
                    return self._response(response, request, attempts, time.perf_counter() - t0)
                if self._rejects_style(response):
                    logger.info(
                        "{} rejected {}: sending pixel limits differently", self.endpoint, self.pixel_limit_style
                    )
                    self._styles.pop(0)
                    continue  # not a retry: the same request in the server's dialect
                attempts.append(f"HTTP {response.status_code}: {response.text[:200].strip()}")
                if response.status_code not in _RETRY_STATUS:
                    break
                retry_after = response.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = min(float(retry_after), 60.0)
            if attempt < self.max_retries:
                logger.debug("request to {} failed ({}); retrying in {:.2f}s", url, attempts[-1], delay)
                time.sleep(delay)
            attempt += 1
        raise BackendError(f"{url} failed after {len(attempts)} attempt(s): {attempts[-1]}")

    def _response(
        self, response: httpx.Response, request: ModelRequest, attempts: list[str], elapsed: float
    ) -> ModelResponse:
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"unexpected response from {self.endpoint}: {response.text[:200]!r}") from None
        if isinstance(text, list):  # some servers return content parts
            text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
        usage = data.get("usage") or {}
        visual = sum(img.geometry.visual_tokens for img in request.images)
        prompt = usage.get("prompt_tokens")
        return ModelResponse(
            text=text,
            prompt_tokens=prompt,
            visual_tokens=visual,
            text_tokens=(prompt - visual) if isinstance(prompt, int) and prompt >= visual else None,
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None,
            image_grid_thw=[list(img.geometry.image_grid_thw) for img in request.images],
            timings_ms={"request": round(elapsed * 1000, 2)},
            model=data.get("model") or self.model,
            extra={"pixel_limits": self.pixel_limit_style, **({"retries": attempts} if attempts else {})},
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "endpoint": self.endpoint,
            "model": self.model,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "pixel_limits": self.pixel_limit_style,
        }

    def close(self) -> None:
        self._client.close()
