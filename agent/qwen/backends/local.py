"""Qwen2-VL / Qwen2.5-VL / Qwen3-VL run in-process with transformers (the ``local`` extra).

The processor resizes each screenshot with the same min/max pixels as the step's
:class:`~agent.qwen.resize.ResizeGeometry`, and we check that the geometry was computed with the
processor's own resize factor (patch x merge: 28 for Qwen2/2.5-VL, 32 for Qwen3-VL) and that the
processor produced the grid that geometry predicts: if the two ever disagreed, every coordinate the
model answers would decode to the wrong pixel. Timings separate preprocessing (template + image
processor), prefill (up to the first token's logits) and decode, because they scale with different
things (pixels, prompt, answer).

torch and transformers are imported when a backend is built, not when this module is imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

from pixelpilot.agent.qwen.backends.base import Backend, BackendError, ModelRequest, ModelResponse, SamplingConfig
from pixelpilot.agent.qwen.resize import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS

#: config.json model types this backend knows how to prompt and decode.
SUPPORTED_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl"})

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "auto": "auto",
}

#: Tokens that end an answer; stripped from the text so that box tags and other specials survive.
_END_TOKENS = ("<|im_end|>", "<|endoftext|>")


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return chain


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or (os.sep != "/" and os.sep in model)


class LocalBackend(Backend):
    """A Qwen2-VL-family checkpoint (hub id or folder) loaded with transformers.

    ``device`` defaults to CUDA, then MPS, then CPU; ``dtype`` to bfloat16 on CUDA (float16 where
    bf16 is unsupported and on MPS) and float32 on CPU; ``"auto"`` keeps the checkpoint's dtype.
    ``min_pixels``/``max_pixels`` are the defaults the policy should build geometries with; each
    request is processed with the min/max of its images' geometries.
    """

    name = "local"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        attn_implementation: str | None = None,
        min_pixels: int = DEFAULT_MIN_PIXELS,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        revision: str | None = None,
        local_files_only: bool | None = None,
    ) -> None:
        try:
            import torch
            import torchvision  # noqa: F401 - Qwen2-VL's processor needs it; fail here, with the fix
            import transformers
        except ImportError as e:
            raise BackendError(
                f"the local backend needs torch, torchvision and transformers: pip install 'pixelpilot[local]' ({e})"
            ) from e
        if min_pixels > max_pixels:
            raise BackendError(f"min_pixels ({min_pixels}) is larger than max_pixels ({max_pixels})")

        self.model_id = str(model)
        self.revision = revision
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self._torch = torch

        self.device = device or self._default_device(torch)
        self.dtype_name = self._resolve_dtype(dtype, self.device, torch)
        hub_kwargs: dict[str, Any] = {}
        if revision is not None:
            hub_kwargs["revision"] = revision
        if local_files_only is not None:
            hub_kwargs["local_files_only"] = local_files_only

        config = self._read_config(self.model_id, hub_kwargs)
        self.model_type = config.get("model_type")
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise BackendError(
                f"'{self.model_id}' is not a Qwen2-VL-family checkpoint: its config.json has model_type "
                f"{self.model_type!r}; expected one of {', '.join(sorted(SUPPORTED_MODEL_TYPES))}"
            )

        load_kwargs: dict[str, Any] = dict(hub_kwargs)
        if attn_implementation is not None:
            load_kwargs["attn_implementation"] = attn_implementation
        dtype_value: Any = "auto" if self.dtype_name == "auto" else getattr(torch, self.dtype_name)
        major = int(transformers.__version__.split(".")[0])
        minor = int(transformers.__version__.split(".")[1])
        load_kwargs["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = dtype_value
        # With accelerate, weights go straight to the GPU; without it (the ``local`` extra does not
        # require it) they are loaded on the CPU and moved, which needs the model's size in host RAM.
        direct = self.device != "cpu" and importlib.util.find_spec("accelerate") is not None
        if direct:
            load_kwargs["device_map"] = self.device
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(self.model_id, **hub_kwargs)
            model_cls = self._model_class(transformers)
            self.model = model_cls.from_pretrained(self.model_id, **load_kwargs)
            if not direct:
                self.model.to(self.device)
            self.model.eval()
        except Exception as e:
            raise BackendError(f"cannot load model '{self.model_id}': {_one_line(e)}") from e

        from pixelpilot.agent.qwen.position_frame import model_uses_position_frame

        #: a small model trained from scratch reads patch coordinates from the second image frame
        self.position_frame = model_uses_position_frame(self.model_id)
        self.dtype_name = str(self.model.dtype).removeprefix("torch.")
        self.attn_implementation = getattr(self.model.config, "_attn_implementation", attn_implementation)
        self.commit = getattr(self.model.config, "_commit_hash", None)
        tokenizer = self.processor.tokenizer
        self._image_token_id = getattr(self.model.config, "image_token_id", None)
        if self._image_token_id is None:
            self._image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        image_processor = self.processor.image_processor
        #: px per visual token side (patch x merge) the processor resizes to multiples of
        self.resize_factor = int(image_processor.patch_size) * int(image_processor.merge_size)
        self._end_token_ids = {
            i for i in (tokenizer.convert_tokens_to_ids(t) for t in _END_TOKENS) if isinstance(i, int) and i >= 0
        }
        if tokenizer.unk_token_id is not None:
            self._end_token_ids.discard(tokenizer.unk_token_id)

    # ------------------------------------------------------------------ loading

    @staticmethod
    def _default_device(torch: Any) -> str:
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"

    @staticmethod
    def _resolve_dtype(dtype: str | None, device: str, torch: Any) -> str:
        if dtype is not None:
            name = _DTYPES.get(str(dtype).lower().removeprefix("torch."))
            if name is None:
                raise BackendError(f"unknown dtype {dtype!r}; use one of bfloat16, float16, float32, auto")
            return name
        if device.startswith("cuda"):
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        if device.startswith("mps"):
            return "float16"
        return "float32"

    @staticmethod
    def _model_class(transformers: Any) -> Any:
        auto = getattr(transformers, "AutoModelForImageTextToText", None)
        if auto is not None:
            return auto
        return transformers.Qwen2VLForConditionalGeneration  # transformers < 4.50

    @staticmethod
    def _read_config(model: str, hub_kwargs: dict[str, Any]) -> dict[str, Any]:
        """config.json of a folder or a hub id (cache first), with the failures users hit spelled out."""
        folder = Path(model).expanduser()
        if folder.is_dir():
            path = folder / "config.json"
            if not path.is_file():
                raise BackendError(f"cannot load model '{model}': the folder has no config.json")
        elif _looks_like_path(model):
            raise BackendError(f"cannot load model '{model}': no such folder")
        else:
            from huggingface_hub import errors as hub_errors
            from transformers.utils.hub import cached_file

            try:
                resolved = cached_file(model, "config.json", **hub_kwargs)
            except Exception as e:
                chain = _error_chain(e)
                kinds = {type(c).__name__ for c in chain}
                if any(isinstance(c, hub_errors.GatedRepoError) for c in chain):
                    raise BackendError(
                        f"cannot load model '{model}': the repository is gated; accept its licence on the hub "
                        "and log in (huggingface-cli login)"
                    ) from e
                if any(isinstance(c, hub_errors.RepositoryNotFoundError) for c in chain):
                    raise BackendError(
                        f"cannot load model '{model}': no such repository on the Hugging Face hub "
                        "(or it is private: log in with huggingface-cli login)"
                    ) from e
                if any(isinstance(c, hub_errors.RevisionNotFoundError) for c in chain):
                    raise BackendError(
                        f"cannot load model '{model}': revision {hub_kwargs.get('revision')!r} not found"
                    ) from e
                if any(isinstance(c, hub_errors.LocalEntryNotFoundError) for c in chain) or (
                    kinds & {"OfflineModeIsEnabled", "ConnectError", "ConnectionError", "ConnectTimeout"}
                ):
                    raise BackendError(
                        f"cannot load model '{model}': not a local folder and not in the Hugging Face cache, "
                        f"and the hub is unreachable; download it first (huggingface-cli download {model}) "
                        "or pass a folder"
                    ) from e
                if any(isinstance(c, hub_errors.HFValidationError) for c in chain):
                    raise BackendError(
                        f"cannot load model '{model}': neither a folder nor a valid hub id (owner/name)"
                    ) from e
                raise BackendError(f"cannot load model '{model}': {_one_line(e)}") from e
            if resolved is None:
                raise BackendError(f"cannot load model '{model}': the repository has no config.json")
            path = Path(resolved)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BackendError(f"cannot load model '{model}': unreadable config.json ({_one_line(e)})") from e
        if not isinstance(config, dict):
            raise BackendError(f"cannot load model '{model}': config.json is not a JSON object")
        return config

    # ------------------------------------------------------------------ generation

    def _pixel_limits(self, request: ModelRequest) -> tuple[int, int]:
        limits = {(im.geometry.min_pixels, im.geometry.max_pixels) for im in request.images}
        if len(limits) > 1:
            raise BackendError(f"all images of one request must share min/max pixels, got {sorted(limits)}")
        return limits.pop() if limits else (self.min_pixels, self.max_pixels)

    @staticmethod
    def _count_image_parts(messages: list[dict[str, Any]]) -> int:
        count = 0
        for message in messages:
            content = message.get("content")
            if isinstance(content, list):
                count += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image")
        return count

    def _generation_config(self, sampling: SamplingConfig) -> Any:
        """The checkpoint's generation config (eos ids, repetition penalty) with our sampling on top."""
        import copy

        config = copy.deepcopy(self.model.generation_config)
        config.max_new_tokens = sampling.max_new_tokens
        config.max_length = None
        config.do_sample = sampling.do_sample
        if sampling.do_sample:
            config.temperature = sampling.temperature
            config.top_p = sampling.top_p
            config.top_k = sampling.top_k if sampling.top_k is not None else 0  # 0: no top-k filter
        else:  # greedy: clear the checkpoint's sampling knobs so nothing warns or half-applies
            config.temperature = None
            config.top_p = None
            config.top_k = None
        return config

    def generate(self, request: ModelRequest) -> ModelResponse:
        torch = self._torch
        from transformers import LogitsProcessor, LogitsProcessorList

        if "model" not in self.__dict__:
            raise BackendError("the local backend is closed")
        n_parts = self._count_image_parts(request.messages)
        if n_parts != len(request.images):
            raise BackendError(f"the messages have {n_parts} image parts but the request carries {len(request.images)}")
        min_pixels, max_pixels = self._pixel_limits(request)

        t0 = time.perf_counter()
        images = []
        for k, prompt_image in enumerate(request.images):
            image = prompt_image.observation.image  # decoded once and cached by the observation
            geometry = prompt_image.geometry
            if image.size != (geometry.width, geometry.height):
                raise BackendError(
                    f"image {k} is {image.size[0]}x{image.size[1]} but its geometry was computed for "
                    f"{geometry.width}x{geometry.height}"
                )
            if geometry.factor != self.resize_factor:
                raise BackendError(
                    f"image {k}'s geometry was computed with resize factor {geometry.factor} but "
                    f"'{self.model_id}' resizes to multiples of {self.resize_factor}; coordinates would decode "
                    f"wrongly (PromptConfig.resize_factor, --resize-factor, must be {self.resize_factor})"
                )
            images.append(image)
        try:
            prompt = self.processor.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
            inputs = self.processor(
                text=[prompt],
                images=images or None,
                size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
                return_tensors="pt",
            )
            if self.position_frame:
                from pixelpilot.agent.qwen.position_frame import apply_to_inputs

                apply_to_inputs(inputs, self.processor)
        except Exception as e:
            raise BackendError(f"preprocessing failed: {_one_line(e)}") from e

        grid: list[list[int]] | None = None
        if images:
            grid = [[int(v) for v in row] for row in inputs["image_grid_thw"].tolist()]
            expected = [list(im.geometry.image_grid_thw) for im in request.images]
            if grid != expected:
                raise BackendError(
                    f"the processor's image_grid_thw {grid} disagrees with the resize geometry {expected}; "
                    "coordinates would decode wrongly"
                )
        inputs = inputs.to(self.device)
        input_ids = inputs["input_ids"]
        prompt_tokens = int(input_ids.shape[1])
        visual_tokens = int((input_ids == self._image_token_id).sum().item())
        self._sync()
        t1 = time.perf_counter()

        first_token_at: list[float] = []
        sync = self._sync

        class _FirstToken(LogitsProcessor):
            """Timestamps the first call: the prefill forward pass has produced the first logits."""

            def __call__(self, ids: Any, scores: Any) -> Any:
                if not first_token_at:
                    sync()
                    first_token_at.append(time.perf_counter())
                return scores

        sampling = request.sampling
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        generation_config = self._generation_config(sampling)
        try:
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    generation_config=generation_config,
                    logits_processor=LogitsProcessorList([_FirstToken()]),
                )
        except Exception as e:
            raise BackendError(f"generation failed: {_one_line(e)}") from e
        self._sync()
        t2 = time.perf_counter()

        new_ids = output[0, prompt_tokens:].tolist()
        completion_tokens = len(new_ids)
        pad_id = generation_config.pad_token_id
        while new_ids and (new_ids[-1] in self._end_token_ids or new_ids[-1] == pad_id):
            new_ids.pop()
        finish_reason = "stop" if len(new_ids) < completion_tokens else "length"
        text = self.processor.tokenizer.decode(new_ids, skip_special_tokens=False)

        prefill_end = first_token_at[0] if first_token_at else t2
        return ModelResponse(
            text=text,
            prompt_tokens=prompt_tokens,
            visual_tokens=visual_tokens,
            text_tokens=prompt_tokens - visual_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
            image_grid_thw=grid,
            timings_ms={
                "preprocess": (t1 - t0) * 1000,
                "prefill": (prefill_end - t1) * 1000,
                "decode": (t2 - prefill_end) * 1000,
                "total": (t2 - t0) * 1000,
            },
            model=self.model_id,
            revision=self.revision or self.commit,
            extra={
                "min_pixels": min_pixels,
                "max_pixels": max_pixels,
                "generation": {
                    "do_sample": sampling.do_sample,
                    "temperature": generation_config.temperature,
                    "top_p": generation_config.top_p,
                    "top_k": generation_config.top_k,
                    "max_new_tokens": sampling.max_new_tokens,
                    "seed": sampling.seed,
                    "repetition_penalty": getattr(generation_config, "repetition_penalty", None),
                },
            },
        )

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            self._torch.cuda.synchronize()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_id,
            "model_type": self.model_type,
            "revision": self.revision,
            "commit": self.commit,
            "dtype": self.dtype_name,
            "device": self.device,
            "threads": self._torch.get_num_threads(),  # CPU intra-op threads (agent.qwen.threads)
            "attn_implementation": self.attn_implementation,
            "resize_factor": self.resize_factor,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
        }

    def close(self) -> None:
        model = self.__dict__.pop("model", None)
        if model is not None:
            del model
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()
