"""Offline GUI grounding: ScreenSpot-format samples, scored by whether the policy's point lands in the box.

ScreenSpot (SeeClick) and ScreenSpot-v2 ship one flat JSON list per platform
(``screenspot_{mobile,desktop,web}.json``, v2: ``screenspot_{platform}_v2.json``) next to an image folder
(``screenspot_imgs/`` or ``screenspotv2_image/``). Each record has ``img_filename``, ``bbox`` as
``[x, y, w, h]`` in image pixels, ``instruction``, ``data_type`` (text | icon) and ``data_source``; a point
counts as a hit when ``x <= px <= x + w`` and ``y <= py <= y + h`` (edges inclusive, as in SeeClick's
evaluation). Our synthetic sets (tasks/bench/synth.py) use the same format with a few optional fields.

The literature reports six columns (mobile/desktop/web x text/icon) and an "average" that is sometimes
the mean over samples and sometimes the mean over the six columns; :func:`grounding_summary` gives both,
named, so numbers are compared like for like.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.agent.episode import EpisodeSpec
from pixelpilot.agent.policy import Decision, Policy
from pixelpilot.agent.policy_spec import PolicySpec
from pixelpilot.env import Observation, ScreenGeometry, StartSpec
from pixelpilot.tasks.bench.contract import Suite, SuiteError, Unit, UnitResult, Worker
from pixelpilot.tools import REGISTRY, ActionBase, Click

Platform = Literal["mobile", "desktop", "web"]
DataType = Literal["text", "icon"]
PLATFORMS: tuple[Platform, ...] = ("mobile", "desktop", "web")
DATA_TYPES: tuple[DataType, ...] = ("text", "icon")
#: The literature's six columns, in its order.
SPLITS: tuple[str, ...] = tuple(f"{p}-{d}" for p in PLATFORMS for d in DATA_TYPES)

#: Image folders the public releases unpack to, tried next to the annotation file and one level up.
IMAGE_DIRS = ("images", "screenspot_imgs", "screenspotv2_image", "imgs", ".")
#: Boxes may overshoot the image by this much (rounding in annotation tools); more is an error.
BBOX_TOLERANCE_PX = 1.0
_PLATFORM_IN_NAME = re.compile(r"(?:^|[_\-.])(mobile|desktop|web)(?:$|[_\-.])")
_REQUIRED = ("img_filename", "bbox", "instruction", "data_type")


class GroundingSample(BaseModel):
    """One instruction on one screenshot, with its gold box in image pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="stable id, '{platform}-{index:04d}' in file order")
    image: str = Field(description="absolute path of the screenshot")
    bbox: tuple[float, float, float, float] = Field(description="x, y, w, h in image pixels")
    instruction: str
    data_type: DataType
    platform: Platform
    source: str = ""
    image_size: tuple[int, int] | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="optional fields (synthetic sets)")

    @property
    def split(self) -> str:
        return f"{self.platform}-{self.data_type}"

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.bbox
        return x + w / 2, y + h / 2

    def contains(self, px: float, py: float) -> bool:
        """SeeClick's hit test: inside the box, edges included."""
        x, y, w, h = self.bbox
        return x <= px <= x + w and y <= py <= y + h


# ----------------------------------------------------------------------------------------------- reading
def annotation_files(path: Path) -> list[Path]:
    """The annotation files of a dataset: ``path`` itself, or the per-platform files in a folder."""
    if not path.exists():
        raise SuiteError(f"grounding dataset not found: {path}")
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.iterdir()
        if p.suffix in (".json", ".jsonl") and p.is_file() and _PLATFORM_IN_NAME.search(p.stem.lower())
    )
    if not files:
        raise SuiteError(
            f"{path}: no annotation files (expected e.g. screenspot_mobile.json, screenspot_web_v2.json "
            "or a .jsonl whose name says mobile, desktop or web)"
        )
    return files


def load_grounding(path: Path | str, *, images: Path | str | None = None) -> list[GroundingSample]:
    """Read a ScreenSpot-format dataset (a folder or one JSON/JSONL file); raises SuiteError on bad input.

    Every image is opened (header only) so a box outside its image fails here, not mid-run.
    """
    path = Path(path).expanduser().resolve()
    counters: dict[str, int] = {}
    sizes: dict[Path, tuple[int, int]] = {}
    samples: list[GroundingSample] = []
    for file in annotation_files(path):
        records = _read_records(file)
        image_dir = _image_dir(file, records, Path(images).expanduser().resolve() if images else None)
        name_platform = m.group(1) if (m := _PLATFORM_IN_NAME.search(file.stem.lower())) else None
        for index, record in enumerate(records):
            sample = _sample(file, index, record, image_dir, name_platform, counters, sizes)
            samples.append(sample)
    logger.debug("read {} grounding samples from {}", len(samples), path)
    return samples


def _read_records(file: Path) -> list[dict[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"{file}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{file}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    if file.suffix == ".jsonl":
        raw: list[Any] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raw.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SuiteError(f"{file}:{lineno}: not JSON ({exc.msg})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{file}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if isinstance(data, dict):
            data = data.get("annotations", data.get("samples", data.get("data")))
        if not isinstance(data, list):
            raise SuiteError(f"{file}: expected a list of records")
        raw = data
    records: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise SuiteError(f"{file}: record {index}: expected an object, got {type(item).__name__}")
        # Some re-uploads nest several annotations under one image.
        if isinstance(item.get("annotations"), list):
            records.extend({"img_filename": item.get("img_filename"), **a} for a in item["annotations"])
        else:
            records.append(item)
    return records


def _image_dir(file: Path, records: list[dict[str, Any]], explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_dir():
            raise SuiteError(f"image folder not found: {explicit}")
        return explicit
    first = next((r.get("img_filename") for r in records if isinstance(r.get("img_filename"), str)), None)
    candidates = [base / name for base in (file.parent, file.parent.parent) for name in IMAGE_DIRS]
    for candidate in candidates:
        if candidate.is_dir() and (first is None or (candidate / first).is_file()):
            return candidate.resolve()
    raise SuiteError(
        f"{file}: cannot find the image folder (looked for {first!r} in {', '.join(IMAGE_DIRS)} "
        "next to the file and one level up); pass the folder explicitly"
    )


def _sample(
    file: Path,
    index: int,
    record: dict[str, Any],
    image_dir: Path,
    name_platform: str | None,
    counters: dict[str, int],
    sizes: dict[Path, tuple[int, int]],
) -> GroundingSample:
    where = f"{file.name}: record {index}"
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise SuiteError(f"{where}: missing field(s) {', '.join(missing)}")
    platform = record.get("platform") or name_platform
    if platform not in PLATFORMS:
        raise SuiteError(f"{where}: platform {platform!r} is not one of {', '.join(PLATFORMS)} (set 'platform')")
    data_type = record["data_type"]
    if data_type not in DATA_TYPES:
        raise SuiteError(f"{where}: data_type {data_type!r} is not text or icon")
    instruction = record["instruction"]
    if not isinstance(instruction, str) or not instruction.strip():
        raise SuiteError(f"{where}: instruction must be a non-empty string")
    bbox = record["bbox"]
    if (
        not isinstance(bbox, list | tuple)
        or len(bbox) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
    ):
        raise SuiteError(f"{where}: bbox must be [x, y, w, h] numbers, got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    image = image_dir / str(record["img_filename"])
    if not image.is_file():
        raise SuiteError(f"{where}: image not found: {image}")
    if image not in sizes:
        try:
            with Image.open(image) as img:
                sizes[image] = img.size
        except OSError as exc:
            raise SuiteError(f"{where}: cannot read image {image}: {exc}") from None
    width, height = sizes[image]
    tol = BBOX_TOLERANCE_PX
    if w <= 0 or h <= 0 or x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        raise SuiteError(f"{where}: bbox [x, y, w, h] = {bbox} lies outside the {width}x{height} image {image.name}")
    n = counters.get(platform, 0)
    counters[platform] = n + 1
    known = {*_REQUIRED, "data_source", "platform"}
    return GroundingSample(
        id=f"{platform}-{n:04d}",
        image=str(image),
        bbox=(x, y, w, h),
        instruction=instruction.strip(),
        data_type=data_type,
        platform=platform,
        source=str(record.get("data_source") or ""),
        image_size=(width, height),
        extra={k: v for k, v in record.items() if k not in known},
    )


def interleave(samples: list[GroundingSample], limit: int | None) -> list[GroundingSample]:
    """The first ``limit`` samples taken round-robin over the splits, so a quick run sees every column."""
    if limit is None or limit >= len(samples):
        return samples
    by_split: dict[str, list[GroundingSample]] = {}
    for s in samples:
        by_split.setdefault(s.split, []).append(s)
    queues = [by_split[k] for k in sorted(by_split, key=lambda k: SPLITS.index(k) if k in SPLITS else len(SPLITS))]
    picked: list[GroundingSample] = []
    depth = 0
    while len(picked) < limit:
        for queue in queues:
            if depth < len(queue) and len(picked) < limit:
                picked.append(queue[depth])
        depth += 1
    return picked


# ----------------------------------------------------------------------------------------------- policies
class GroundingOracle(Policy):
    """Clicks the centre of the gold box. It validates the harness (reader, image loading, hit test)
    and should score 100%; it says nothing about any model."""

    name = "grounding-oracle"

    def __init__(self) -> None:
        self.target: GroundingSample | None = None

    def decide(self, instruction: str, observation: Observation, history: list[Any]) -> Decision:
        if self.target is None:
            return Decision(parse_error="the grounding oracle was not given a sample")
        x, y = self.target.center
        return Decision(action=Click(x=x, y=y), raw_output=f"click({x:g}, {y:g})")


def action_point(action: ActionBase) -> tuple[float, float] | None:
    """The point a grounding answer names: the first point of a pointer action; None for anything else."""
    points = action.points()
    return points[0] if points else None


# ----------------------------------------------------------------------------------------------- worker
class GroundingWorker(Worker):
    """Builds the policy once, then scores one sample per unit; writes nothing per sample."""

    def __init__(self, index: int, policy: Policy, suite_name: str = "grounding") -> None:
        self.index = index
        self.policy = policy
        self.suite_name = suite_name

    def run(self, unit: Unit, out_dir: Path) -> UnitResult:
        t0 = time.perf_counter()
        sample = GroundingSample.model_validate(unit.payload["sample"])
        data, fmt, (width, height) = load_screenshot(Path(sample.image))
        geometry = ScreenGeometry(
            width=width, height=height, device_scale_factor=1.0, viewport_width=width, viewport_height=height
        )
        obs = Observation(screenshot=data, image_format=fmt, geometry=geometry)
        env_kind: Literal["browser", "android"] = "android" if sample.platform == "mobile" else "browser"
        self.policy.reset(
            EpisodeSpec(id=_episode_id(sample.id), instruction=sample.instruction, env=env_kind, start=StartSpec())
        )
        if isinstance(self.policy, GroundingOracle):
            self.policy.target = sample
        t_model = time.perf_counter()
        decision = self.policy.decide(sample.instruction, obs, [])
        model_ms = (time.perf_counter() - t_model) * 1000
        error = decision.parse_error
        point: tuple[float, float] | None = None
        if error is None:
            if decision.action is None:
                error = "the policy proposed no action"
            else:
                try:
                    point = action_point(REGISTRY.validate(decision.action))
                except ValueError as exc:
                    error = str(exc)
        hit = point is not None and sample.contains(*point)
        meta = decision.metadata
        metrics: dict[str, float] = {
            "hit": float(hit),
            "parse_failure": float(error is not None),
            "model_ms": round(model_ms, 2),
        }
        if (tokens := _visual_tokens(meta)) is not None:
            metrics["visual_tokens"] = float(tokens)
        if isinstance(meta.get("parse_failures"), int | float):
            metrics["parse_failures"] = float(meta["parse_failures"])
        if point is not None:
            metrics |= {"x": round(point[0], 2), "y": round(point[1], 2)}
        return UnitResult(
            run_key="",
            suite=self.suite_name,
            task=unit.task,
            seed=unit.seed,
            status="scored",
            success=hit,
            reward=float(hit),
            steps=1,
            metrics=metrics,
            fields={
                "split": sample.split,
                "platform": sample.platform,
                "data_type": sample.data_type,
                "source": sample.source,
            },
            error=error if error is None else error.splitlines()[0][:500],
            elapsed_s=round(time.perf_counter() - t0, 3),
            worker=self.index,
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    def close(self) -> None:
        self.policy.close()


def _episode_id(sample_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", sample_id) or "sample"


def _visual_tokens(meta: dict[str, Any]) -> float | None:
    """Visual tokens of the decision: recorded at the top on success, per attempt on a parse failure."""
    value = meta.get("visual_tokens")
    if isinstance(value, int | float):
        return float(value)
    for attempt in meta.get("attempts", []):
        if isinstance(attempt, dict) and isinstance(attempt.get("visual_tokens"), int | float):
            return float(attempt["visual_tokens"])
    return None


def load_screenshot(path: Path) -> tuple[bytes, Literal["png", "jpeg"], tuple[int, int]]:
    """The image's bytes as they are (PNG or JPEG: never resized or re-encoded), its format and size.

    Other formats (WebP, BMP) are re-encoded to PNG once, losslessly, so every policy can read them.
    """
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        size = img.size
        if img.format == "PNG":
            return data, "png", size
        if img.format == "JPEG":
            return data, "jpeg", size
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue(), "png", size


# ----------------------------------------------------------------------------------------------- suite
class GroundingSuite(Suite):
    """ScreenSpot-format grounding as a benchmark suite: one unit per sample, seed 0."""

    name = "grounding"
    kind = "offline"

    def __init__(self, dataset: Path | str, *, images: Path | str | None = None, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise SuiteError(f"--limit must be at least 1, got {limit}")
        self.dataset = Path(dataset).expanduser().resolve()
        self.images = Path(images).expanduser().resolve() if images else None
        self.limit = limit
        self._samples: list[GroundingSample] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers get the plain options; samples travel in each unit's payload.
        return {**self.__dict__, "_samples": None}

    @property
    def samples(self) -> list[GroundingSample]:
        if self._samples is None:
            self._samples = interleave(load_grounding(self.dataset, images=self.images), self.limit)
        return self._samples

    def tasks(self) -> list[str]:
        return [s.id for s in self.samples]

    def units(self, tasks: list[str], seeds: int) -> list[Unit]:
        by_id = {s.id: s for s in self.samples}
        unknown = [t for t in tasks if t not in by_id]
        if unknown:
            raise SuiteError(f"unknown grounding sample(s): {', '.join(unknown[:5])}")
        return [Unit(task=t, seed=0, payload={"sample": by_id[t].model_dump(mode="json")}) for t in tasks]

    def summarize(self, results: list[UnitResult]) -> dict[str, Any] | None:
        return grounding_summary(results)

    def open_worker(self, index: int, policy_spec: PolicySpec) -> Worker:
        policy: Policy = GroundingOracle() if policy_spec.kind == "oracle" else policy_spec.build()
        return GroundingWorker(index, policy, self.name)

    def settings(self) -> dict[str, Any]:
        return {"dataset": str(self.dataset), "digest": dataset_digest(self.dataset), "limit": self.limit}

    def describe_run(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for s in self.samples:
            counts[s.split] = counts.get(s.split, 0) + 1
        return {**self.settings(), "samples": len(self.samples), "per_split": counts}


def dataset_digest(path: Path) -> str:
    """A short hash of the annotation files, so results on an edited dataset never mix with old ones."""
    h = hashlib.sha256()
    for file in annotation_files(path):
        h.update(file.name.encode())
        h.update(file.read_bytes())
    return h.hexdigest()[:12]


# ----------------------------------------------------------------------------------------------- metrics
def grounding_summary(results: Iterable[UnitResult]) -> dict[str, Any]:
    """Accuracy per split and platform, and both overall conventions, each under its own name.

    ``sample_weighted_accuracy`` = all hits / all samples; ``split_averaged_accuracy`` = mean of the
    per-split accuracies (splits with no samples are left out). Results that are not "scored" (a worker
    crash, a killed unit) count as misses: a sample the harness failed on was not grounded.
    """
    per_split: dict[str, list[int]] = {}
    per_platform: dict[str, list[int]] = {}
    parse_failures = 0
    total = 0
    for r in results:
        hit = int(r.status == "scored" and r.metrics.get("hit", 0.0) >= 1.0)
        split = r.fields.get("split", "unknown")
        platform = r.fields.get("platform", split.split("-")[0])
        for table, key in ((per_split, split), (per_platform, platform)):
            counts = table.setdefault(key, [0, 0])
            counts[0] += hit
            counts[1] += 1
        parse_failures += int(r.metrics.get("parse_failure", 0.0) >= 1.0)
        total += 1
    order = {k: i for i, k in enumerate(SPLITS)}

    def table(counts: dict[str, list[int]], rank: dict[str, int]) -> dict[str, dict[str, float]]:
        keys = sorted(counts, key=lambda k: (rank.get(k, len(rank)), k))
        return {k: {"hits": counts[k][0], "n": counts[k][1], "accuracy": counts[k][0] / counts[k][1]} for k in keys}

    splits = table(per_split, order)
    hits = sum(c[0] for c in per_split.values())
    return {
        "samples": total,
        "hits": hits,
        "sample_weighted_accuracy": hits / total if total else None,
        "split_averaged_accuracy": sum(s["accuracy"] for s in splits.values()) / len(splits) if splits else None,
        "per_split": splits,
        "per_platform": table(per_platform, {p: i for i, p in enumerate(PLATFORMS)}),
        "parse_failure_rate": parse_failures / total if total else None,
    }
