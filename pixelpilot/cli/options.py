"""The options run, debug, bench and train share, declared once.

Each command lists the ones it takes (a benchmark has no --headed), but the name, type, bounds and
help of an option live here, so `--dialect` means the same thing in every command.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

# The help panels options are grouped under, in this order, so a long --help reads by concern.
ENV_PANEL = "Environment"
POLICY_PANEL = "Policy"
MODEL_PANEL = "Model"
RUN_PANEL = "Run"
LIMITS_PANEL = "Run limits"
OUTPUT_PANEL = "Output"


class CaptureFormat(str, Enum):
    jpeg = "jpeg"
    png = "png"


# --------------------------------------------------------------------------- the environment
EnvName = Annotated[
    str | None, typer.Option("--env", rich_help_panel=ENV_PANEL, help="browser, android, desktop (default: the task's)")
]
Headed = Annotated[bool, typer.Option("--headed", rich_help_panel=ENV_PANEL, help="show the browser window")]
Chromium = Annotated[str | None, typer.Option(rich_help_panel=ENV_PANEL, help="Chromium binary (default: auto-detect)")]
Capture = Annotated[CaptureFormat, typer.Option(rich_help_panel=ENV_PANEL, help="screenshot encoding")]
Serial = Annotated[
    str | None, typer.Option(rich_help_panel=ENV_PANEL, help="Android device serial (default: the only one)")
]
Display = Annotated[
    str | None,
    typer.Option(
        rich_help_panel=ENV_PANEL, help="desktop: attach to this X display (e.g. :1) instead of starting an own Xvfb"
    ),
]
AllowDisplayZero = Annotated[
    bool,
    typer.Option(
        "--allow-display-zero", rich_help_panel=ENV_PANEL, help="desktop: allow --display :0, usually your own session"
    ),
]

# --------------------------------------------------------------------------- the policy (PolicySpec's fields)
Model = Annotated[
    str | None,
    typer.Option(rich_help_panel=MODEL_PANEL, help="Qwen2-VL-family model: hub id or folder (local), or served name"),
]
Endpoint = Annotated[
    str | None, typer.Option(rich_help_panel=MODEL_PANEL, help="OpenAI-compatible endpoint, e.g. http://host:8000/v1")
]
Dialect = Annotated[
    str | None,
    typer.Option(
        rich_help_panel=MODEL_PANEL,
        help="qwen2.5-vl | qwen2-vl | showui | qwen3-vl | ui-tars-1.5 (default: from the model id)",
    ),
]
ResizeFactor = Annotated[
    int | None,
    typer.Option(
        rich_help_panel=MODEL_PANEL,
        min=2,
        max=256,
        help="px per visual token side, patch x merge: 28 Qwen2/2.5-VL, 32 Qwen3-VL "
        "(default: the model folder's processor config, else the model id)",
    ),
]
MaxPixels = Annotated[
    int | None, typer.Option(rich_help_panel=MODEL_PANEL, min=784, help="visual pixel budget (default 1280*28*28)")
]
MinPixels = Annotated[
    int | None, typer.Option(rich_help_panel=MODEL_PANEL, min=784, help="minimum visual pixels (default 56*56)")
]
Zoom = Annotated[
    bool,
    typer.Option(
        "--zoom",
        rich_help_panel=MODEL_PANEL,
        help="ground in two passes: the whole screen at --zoom-max-pixels, then a native-resolution crop around "
        "the point (docs/POLICY.md)",
    ),
]
ZoomMaxPixels = Annotated[
    int | None,
    typer.Option(
        rich_help_panel=MODEL_PANEL, min=784, help="--zoom: the overview pass's pixel budget (default 256*28*28)"
    ),
]
ZoomCrop = Annotated[
    int | None,
    typer.Option(
        rich_help_panel=MODEL_PANEL, min=56, max=4096, help="--zoom: side of the crop, screenshot px (default 672)"
    ),
]
SweepMaxPixels = Annotated[
    str | None,
    typer.Option(
        "--sweep-max-pixels",
        rich_help_panel=MODEL_PANEL,
        metavar="A,B,...",
        help="run once per pixel budget (e.g. 200704,401408,1280*28*28), each in OUT/max-pixels-N; "
        "OUT/report.html charts success and latency against visual tokens",
    ),
]
History = Annotated[int, typer.Option(rich_help_panel=MODEL_PANEL, min=0, help="previous actions shown to the model")]
HistoryImages = Annotated[
    int, typer.Option(rich_help_panel=MODEL_PANEL, min=0, help="previous screenshots shown to the model")
]
MaxRepairs = Annotated[
    int, typer.Option(rich_help_panel=MODEL_PANEL, min=0, help="re-asks after unparsable output, per step")
]
Sample = Annotated[
    bool, typer.Option("--sample", rich_help_panel=MODEL_PANEL, help="sample instead of greedy decoding")
]
Temperature = Annotated[
    float, typer.Option(rich_help_panel=MODEL_PANEL, min=0.01, help="sampling temperature (with --sample)")
]
Seed = Annotated[int | None, typer.Option(rich_help_panel=MODEL_PANEL, help="sampling seed")]
MaxNewTokens = Annotated[int, typer.Option(rich_help_panel=MODEL_PANEL, min=1, help="output token cap per model call")]
Device = Annotated[
    str | None,
    typer.Option(rich_help_panel=MODEL_PANEL, help="torch device: cuda, cpu, cuda:1 (default: cuda if available)"),
]
Dtype = Annotated[
    str | None,
    typer.Option(
        rich_help_panel=MODEL_PANEL,
        help="torch dtype: bfloat16, float16, float32 (default bf16 on CUDA, float32 on CPU)",
    ),
]
Attn = Annotated[
    str | None,
    typer.Option(rich_help_panel=MODEL_PANEL, help="attention implementation (eager, sdpa, flash_attention_2)"),
]
ApiKeyEnv = Annotated[str, typer.Option(rich_help_panel=MODEL_PANEL, help="env var holding the endpoint's API key")]
RequestTimeout = Annotated[
    float, typer.Option(rich_help_panel=MODEL_PANEL, min=0.1, help="per-request timeout for --endpoint, s")
]

# --------------------------------------------------------------------------- the episode
Script = Annotated[
    Path | None,
    typer.Option(rich_help_panel=POLICY_PANEL, help="actions to replay (JSONL/YAML); default: the task's solution"),
]
EpisodeOut = Annotated[
    Path, typer.Option("--out", rich_help_panel=OUTPUT_PANEL, help="bundles are written under this folder")
]
RecordSecrets = Annotated[
    bool, typer.Option("--record-secrets", rich_help_panel=OUTPUT_PANEL, help="keep text typed into password fields")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", rich_help_panel=OUTPUT_PANEL, help="debug logs on stderr")]
