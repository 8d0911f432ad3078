"""`pixelpilot dataset build`: episode bundles -> a training set in a dialect (format.py).

Every usable step becomes the exact request the Qwen2-VL policy would have sent for it (system
prompt, history rendered in the dialect, the screenshot) and, as the answer, the dialect's encoding
of the action that ran, through the same resize geometry the policy uses. The target is checked by
decoding it back: it must give the executed action to within half a model unit (exactly, for
points on the model's grid); the decoded action is stored beside the executed one.

Steps a person corrected in the debugger carry the person's action (the bundle's ``action`` is
what ran); their model proposal is not used. Failed steps and steps typing a masked secret are not
examples, but stay in the history of later steps, as the policy saw them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from loguru import logger

from pixelpilot.agent.episode import EpisodeSpec, StepRecord, now_iso, read_bundle
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.dialects.base import Dialect, ParseError
from pixelpilot.agent.qwen.prompt import PROMPT_VERSION, PromptConfig, build_request, geometry_for
from pixelpilot.agent.qwen.resize import ResizeGeometry
from pixelpilot.agent.train.format import DATA_DIR, INFO_FILE, DatasetInfo, card
from pixelpilot.agent.train.provenance import describe_bundles
from pixelpilot.tools import REGISTRY, ActionBase, ToolValidationError


class DatasetError(ValueError):
    """Bad input for a dataset build (no bundles, unknown dialect): one line for the user."""


def find_bundles(paths: list[Path]) -> list[Path]:
    """Bundle folders among ``paths`` (each a bundle or a folder holding bundles at any depth)."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise DatasetError(f"{path}: no such file or folder")
        if (path / "episode.json").is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p.parent for p in path.rglob("episode.json") if (p.parent / "steps.jsonl").is_file())
        else:
            raise DatasetError(f"{path}: not a bundle or a folder of bundles")
    if not found:
        raise DatasetError(f"no episode bundles under {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def _portable_label(bundle: Path, roots: list[Path]) -> str:
    """``bundle`` relative to the first given folder that holds it, under that folder's name."""
    for root in roots:
        if bundle == root:
            return root.name
        if bundle.is_relative_to(root):
            return f"{root.name}/{bundle.relative_to(root).as_posix()}"
    return bundle.name


def decode_check(
    dialect: Dialect, target: str, geometry: ResizeGeometry, env: str, executed: ActionBase
) -> dict[str, Any]:
    """Decode ``target``; raise ValueError unless it is the executed action to within half a model unit."""
    try:
        parsed = dialect.parse(target, geometry, env)  # type: ignore[arg-type]
    except ParseError as exc:
        raise ValueError(f"the target does not parse back: {exc}") from None
    decoded = REGISTRY.validate(parsed.action)
    got, want = decoded.model_dump(mode="json"), executed.model_dump(mode="json")
    if got.get("action") != want.get("action"):
        raise ValueError(f"the target decodes to {got.get('action')}, not {want.get('action')}")
    ux, uy = unit_px(dialect, geometry)
    point_keys = {k for pair in executed.point_fields for k in pair}
    for key, value in want.items():
        if key in point_keys:
            limit = (ux if key.endswith("x") else uy) / 2 + 1e-6
            if abs(float(got[key]) - float(value)) > limit:
                raise ValueError(f"{key} decodes to {got[key]} for {value} (more than half a model unit)")
        elif got.get(key) != value and not _carried_loosely(dialect, target, geometry, env, decoded, executed, key):
            raise ValueError(f"{key} decodes to {got.get(key)!r} for {value!r}")
    return got


#: Fields some dialects have no words for, whose loss leaves the step doing its job: a finish's note to
#: the user (the status is what ends the episode) and a scroll's distance (the dialect scrolls its own
#: stretch in the same direction, and the next screenshot shows where that led). Any other difference,
#: such as a dropped Enter after typing, changes what the step does and keeps the step out.
LOOSE_FIELDS = {("finish", "message"), ("scroll", "amount")}


def _carried_loosely(
    dialect: Dialect,
    target: str,
    geometry: ResizeGeometry,
    env: str,
    decoded: ActionBase,
    executed: ActionBase,
    key: str,
) -> bool:
    """True when ``key`` is a loose field the dialect cannot write at all: the executed action and the
    decoded one (with the dialect's own value) both encode to ``target``, so no target would carry it."""
    if (decoded.model_dump(mode="json").get("action"), key) not in LOOSE_FIELDS:
        return False
    same = dialect.encode(decoded, geometry, env) == target  # type: ignore[arg-type]
    return same and dialect.encode(executed, geometry, env) == target  # type: ignore[arg-type]


def unit_px(dialect: Dialect, g: ResizeGeometry) -> tuple[float, float]:
    """One model coordinate unit in screenshot px (x, y) for ``dialect``: its point space's extent
    (the resized image, 0..1000, 0..999, 0..1) over the screenshot, at the decimals its model writes."""
    space = dialect.point_space
    sx, sy = space.size(g)
    step = 10.0**-space.decimals
    return g.width / sx * step, g.height / sy * step


def examples_from_bundle(
    bundle: Path,
    dialect: Dialect,
    prompt: PromptConfig,
    *,
    successful_only: bool,
    skipped: Counter[str],
    source: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The usable steps of ``bundle`` as rows; ``source`` is how rows name the bundle (a path
    relative to the folder the user gave, so a dataset names no machine's absolute paths)."""
    from pixelpilot.agent.qwen.backends.base import SamplingConfig

    try:
        record, steps = read_bundle(bundle)
    except (OSError, ValueError) as exc:
        skipped["unreadable bundle"] += 1
        logger.warning("{}: unreadable bundle: {}", bundle, str(exc).splitlines()[0])
        return
    if successful_only and record.success is not True:
        skipped["unsuccessful episode"] += 1
        return
    try:
        spec = EpisodeSpec.model_validate(record.task)
    except ValueError:
        skipped["bad task record"] += 1
        return
    env = spec.env
    episode = f"{spec.id}/{bundle.name}" if bundle.name != spec.id else bundle.name
    history: list[StepRecord] = []
    for step in steps:
        usable = step.action is not None and step.error is None and not step.masked
        if usable:
            try:
                executed = REGISTRY.validate(step.action or {})
                obs = step.observation.to_observation(bundle)
                request = build_request(
                    dialect=dialect,
                    env=env,
                    instruction=spec.instruction,
                    observation=obs,
                    history=history,
                    config=prompt,
                    sampling=SamplingConfig(),
                )
                geometry = geometry_for(obs.geometry.width, obs.geometry.height, prompt)
                target = dialect.encode(executed, geometry, env)
                decoded = decode_check(dialect, target, geometry, env, executed)
            except (ToolValidationError, ValueError, OSError) as exc:
                skipped[f"not expressible in {dialect.name}" if "express" in str(exc) else "step error"] += 1
                logger.debug("{} step {}: {}", bundle.name, step.index, exc)
            else:
                yield {
                    "id": f"{episode}#{step.index}",
                    "messages": json.dumps(request.messages, ensure_ascii=False),
                    "images": [{"bytes": im.observation.screenshot, "path": None} for im in request.images],
                    "target": target,
                    "action": json.dumps(decoded),
                    "executed": json.dumps(executed.model_dump(mode="json")),
                    "task": spec.id,
                    "env": env,
                    "episode": episode,
                    "step": step.index,
                    "width": obs.geometry.width,
                    "height": obs.geometry.height,
                    "resized_width": geometry.resized_width,
                    "resized_height": geometry.resized_height,
                    "intervened": bool(step.interventions),
                    "source": source or bundle.name,
                }
        elif step.action is None and not step.error:
            skipped["skipped or stopped step"] += 1
        elif step.masked:
            skipped["masked secret"] += 1
        else:
            skipped["failed step"] += 1
        history.append(step)


def dataset_features() -> Any:
    """The parquet schema of a training set (datasets.Features; images embedded)."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "target": datasets.Value("string"),
            "action": datasets.Value("string"),
            "executed": datasets.Value("string"),
            "task": datasets.Value("string"),
            "env": datasets.Value("string"),
            "episode": datasets.Value("string"),
            "step": datasets.Value("int32"),
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
            "resized_width": datasets.Value("int32"),
            "resized_height": datasets.Value("int32"),
            "intervened": datasets.Value("bool"),
            "source": datasets.Value("string"),
        }
    )


def build_dataset(
    paths: list[Path],
    out: Path,
    *,
    dialect: str,
    prompt: PromptConfig | None = None,
    successful_only: bool = True,
    shard_rows: int = 2000,
) -> DatasetInfo:
    """Write the dataset folder; returns its DatasetInfo (also in OUT/dataset.json)."""
    try:
        import datasets
    except ImportError:
        raise DatasetError("building datasets needs the train extra: pip install 'pixelpilot[train]'") from None
    try:
        d = get_dialect(dialect)
    except (KeyError, ValueError):
        from pixelpilot.agent.qwen.dialects import DIALECTS

        raise DatasetError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}") from None
    datasets.disable_progress_bars()
    prompt = prompt or PromptConfig()
    bundles = find_bundles(paths)
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    envs: set[str] = set()
    used: list[tuple[Path, str]] = []  # bundles that gave rows, for the portable provenance
    for bundle in bundles:
        label = _portable_label(bundle, paths)
        rows_before = len(rows)
        for row in examples_from_bundle(
            bundle, d, prompt, successful_only=successful_only, skipped=skipped, source=label
        ):
            digest = hashlib.sha256(
                b"".join(im["bytes"] for im in row["images"]) + row["messages"].encode() + row["target"].encode()
            ).hexdigest()
            if digest in seen:
                skipped["duplicate"] += 1
                continue
            seen.add(digest)
            envs.add(row["env"])
            rows.append(row)
        if len(rows) > rows_before:
            used.append((bundle, rows[-1]["task"]))
    if not rows:
        reasons = ", ".join(f"{k}: {v}" for k, v in skipped.items()) or "no steps"
        raise DatasetError(f"no usable steps in {len(bundles)} bundle(s) ({reasons})")
    write_rows(out, rows, shard_rows)
    return write_info(
        out,
        dialect=d.name,
        env=envs.pop() if len(envs) == 1 else "mixed",
        prompt=prompt,
        rows=len(rows),
        episodes=len({r["episode"] for r in rows}),
        tasks=dict(Counter(r["task"] for r in rows)),
        sources=describe_bundles(used),
        skipped=dict(skipped),
    )


def write_rows(out: Path, rows: Iterable[dict[str, Any]], shard_rows: int) -> None:
    """Replace OUT/data/*.parquet with ``rows``, ``shard_rows`` per file (rows may be a generator)."""
    import datasets

    features = dataset_features()
    (out / DATA_DIR).mkdir(parents=True, exist_ok=True)
    for old in (out / DATA_DIR).glob("*.parquet"):
        old.unlink()
    it = iter(rows)
    for shard in itertools.count():
        chunk = list(itertools.islice(it, shard_rows))
        if not chunk:
            break
        table = datasets.Dataset.from_dict({c: [r[c] for r in chunk] for c in features}, features=features)
        table.to_parquet(str(out / DATA_DIR / f"train-{shard:05d}.parquet"))


def write_info(out: Path, *, dialect: str, env: str, prompt: PromptConfig, **counts: Any) -> DatasetInfo:
    """Write dataset.json and the README card for a set built with ``prompt``'s settings."""
    from pixelpilot.agent.loop import framework_version

    info = DatasetInfo(
        dialect=dialect,
        env=env,
        min_pixels=prompt.min_pixels,
        max_pixels=prompt.max_pixels,
        resize_factor=prompt.resize_factor,
        history_actions=prompt.history_actions,
        history_images=prompt.history_images,
        system_prompt=prompt.system_prompt,
        prompt_version=PROMPT_VERSION,
        created_at=now_iso(),
        framework_version=framework_version(),
        **counts,
    )
    (out / INFO_FILE).write_text(info.model_dump_json(indent=2))
    (out / "README.md").write_text(card(info))
    return info
