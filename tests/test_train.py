"""`pixelpilot train` on a tiny real Qwen2-VL: label masking, learning, reloading, resuming, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("datasets")
pytest.importorskip("peft")
pytest.importorskip("matplotlib")

from pixelpilot.agent.qwen.backends.base import SamplingConfig
from pixelpilot.agent.qwen.dialects import get_dialect
from pixelpilot.agent.qwen.prompt import PromptConfig, build_request, geometry_for
from pixelpilot.agent.train.format import DATA_DIR, INFO_FILE, DatasetInfo
from pixelpilot.agent.train.trainer import TrainConfig, TrainError, train

#: ShowUI: the shortest system prompt of the dialects, so the fastest steps on a CPU.
DIALECT = "showui"
WIDTH, HEIGHT = 168, 224
PIXELS = {"min_pixels": 56 * 56, "max_pixels": 256 * 28 * 28}


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """One intra-op thread: the models are tiny and the test machine is shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_dataset(folder: Path, n: int = 8, *, dialect: str = DIALECT, rows: bool = True) -> Path:
    """A training set in the format `pixelpilot dataset build` writes: one click per row on a coloured box."""
    import datasets
    from PIL import Image, ImageDraw

    from pixelpilot.env import Observation
    from pixelpilot.env.geometry import ScreenGeometry
    from pixelpilot.tools import REGISTRY

    codec = get_dialect(dialect)
    config = PromptConfig(**PIXELS, history_actions=8, history_images=0)
    records: dict[str, list[Any]] = {k: [] for k in ("id", "messages", "images", "target", "action", "task")}
    records |= {k: [] for k in ("episode", "step", "width", "height", "resized_width", "resized_height")}
    records |= {"intervened": [], "source": []}
    for i in range(n):
        x, y = 20 + (i * 37) % 120, 30 + (i * 53) % 160
        image = Image.new("RGB", (WIDTH, HEIGHT), (245, 245, 245))
        ImageDraw.Draw(image).rectangle((x - 12, y - 8, x + 12, y + 8), fill=(30 + 25 * i, 90, 200))
        buf = io.BytesIO()
        image.save(buf, "PNG")
        obs = Observation(
            screenshot=buf.getvalue(),
            image_format="png",
            geometry=ScreenGeometry(width=WIDTH, height=HEIGHT, viewport_width=WIDTH, viewport_height=HEIGHT),
        )
        request = build_request(
            dialect=codec, env="browser", instruction=f"Click the box number {i}.", observation=obs, history=[],
            config=config, sampling=SamplingConfig(),
        )  # fmt: skip
        geometry = geometry_for(WIDTH, HEIGHT, config)
        action = {"action": "click", "x": x, "y": y}
        values = {
            "id": f"ep{i}-1", "messages": json.dumps(request.messages),
            "images": [{"bytes": buf.getvalue(), "path": None}],
            "target": codec.encode(REGISTRY.validate(action), geometry, "browser"), "action": json.dumps(action),
            "task": "click-box", "episode": f"ep{i}", "step": 1, "width": WIDTH, "height": HEIGHT,
            "resized_width": geometry.resized_width, "resized_height": geometry.resized_height, "intervened": False,
            "source": f"runs/ep{i}",
        }  # fmt: skip
        for key, value in values.items():
            records[key].append(value)
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "messages": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "target": datasets.Value("string"),
            "action": datasets.Value("string"),
            "task": datasets.Value("string"),
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
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    if rows:
        datasets.Dataset.from_dict(records, features=features).to_parquet(
            str(folder / DATA_DIR / "train-00000.parquet")
        )
    info = DatasetInfo(
        dialect=dialect, env="browser", **PIXELS, history_actions=8, history_images=0, prompt_version="1",
        rows=n if rows else 0, episodes=n if rows else 0, tasks={"click-box": n} if rows else {},
    )  # fmt: skip
    (folder / INFO_FILE).write_text(info.model_dump_json(indent=2))
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("trainset"))


def config(data: Path, out: Path, **kw: Any) -> TrainConfig:
    base = {"base": "tiny", "dialect": DIALECT, "batch_size": 4, "progress": False, "save_every": None}
    return TrainConfig(data=[data], out=out, **(base | kw))


def test_only_the_answer_and_its_end_of_turn_are_learned(dataset: Path, tiny_qwen_dir: Path) -> None:
    from transformers import AutoProcessor

    from pixelpilot.agent.train.rows import IGNORE_INDEX, collate, load_rows, prompt_text

    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    data, info = load_rows([dataset], DIALECT)
    rows = [data[i] for i in range(3)]
    batch = collate(processor, rows, info)
    for i, row in enumerate(rows):
        ids, labels, mask = batch["input_ids"][i], batch["labels"][i], batch["attention_mask"][i]
        learned = ids[labels != IGNORE_INDEX].tolist()
        assert processor.tokenizer.decode(learned, skip_special_tokens=False) == row["target"] + "<|im_end|>"
        # the learned tokens are one contiguous span right after the prompt, as the backend builds it
        single = processor(
            text=[prompt_text(processor, row)], images=[row_images_of(row)],
            size={"shortest_edge": info.min_pixels, "longest_edge": info.max_pixels}, return_tensors="pt",
        )  # fmt: skip
        n_prompt = single["input_ids"].shape[1]
        assert ids[:n_prompt].tolist() == single["input_ids"][0].tolist()
        assert (labels[:n_prompt] == IGNORE_INDEX).all() and (labels[n_prompt : n_prompt + len(learned)] != -100).all()
        # prompt + answer is exactly the chat template's rendering of the whole conversation
        from pixelpilot.agent.train.format import example_to_chat

        whole = processor.apply_chat_template(example_to_chat(row), tokenize=False)
        whole_ids = processor(
            text=[whole], images=[row_images_of(row)],
            size={"shortest_edge": info.min_pixels, "longest_edge": info.max_pixels}, return_tensors="pt",
        )["input_ids"][0].tolist()  # fmt: skip
        assert ids[mask.bool()].tolist() == whole_ids
    assert batch["pixel_values"].shape[0] == 3 * (HEIGHT // 14) * (WIDTH // 14)
    assert batch["image_grid_thw"].tolist() == [[1, HEIGHT // 14, WIDTH // 14]] * 3


def row_images_of(row: dict[str, Any]) -> Any:
    from pixelpilot.agent.train.rows import row_images

    return row_images(row)[0]


def test_training_lowers_the_loss_and_the_output_runs_as_a_policy(dataset: Path, tmp_path: Path, browser: Any) -> None:
    out = tmp_path / "run"
    result = train(config(dataset, out, max_steps=16, lr=3e-3, schedule="constant", warmup_ratio=0.0))
    assert result.steps == 16
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in log if e["event"] == "train"]
    assert [e["step"] for e in log] == list(range(1, 17))
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3  # each mean covers 3 batches = 1.5 passes
    assert last < 0.6 * first, losses
    assert all(e["samples_per_s"] > 0 and e["lr"] == pytest.approx(3e-3) for e in log)

    for name in ("config.json", "model.safetensors", "chat_template.jinja", "report.html", "loss.png"):
        assert (out / name).exists() or (name == "chat_template.jinja" and (out / "chat_template.json").exists()), name
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report and "16 steps" in report
    assert (out / "checkpoint" / "trainer_state.json").exists()
    # a scratch architecture reads patch coordinates from the second image frame, and says so
    assert json.loads((out / "pixelpilot.json").read_text())["position_frame"] is True

    from pixelpilot.agent.loop import Agent, AgentConfig
    from pixelpilot.agent.policy_spec import PolicySpec
    from pixelpilot.tasks import EXAMPLES_DIR, Task

    policy = PolicySpec(kind="qwen", model=str(out), dialect=DIALECT, max_new_tokens=8, max_repairs=0, **PIXELS).build()
    task = Task.from_file(EXAMPLES_DIR / "login.yaml").to_spec().model_copy(update={"max_steps": 2})
    episode = Agent(browser, policy, AgentConfig(out_dir=tmp_path / "runs", max_consecutive_failures=10)).run(task)
    assert episode.steps == 2 and episode.status == "max_steps"


def test_lora_merges_into_an_ordinary_checkpoint_and_evaluates(
    dataset: Path, tmp_path: Path, tiny_qwen_dir: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    from pixelpilot.agent.train.base_model import load_model
    from pixelpilot.agent.train.image_ablation import ablation_check

    held_out = write_dataset(tmp_path / "held-out", n=2)
    base = load_file(tiny_qwen_dir / "model.safetensors")  # `tiny` with seed 0 is the fixture's model
    calls: list[tuple[Path, int]] = []

    def evaluate(model_dir: Path, step: int) -> dict[str, float]:
        calls.append((model_dir, step))
        loaded = load_file(model_dir / "model.safetensors")  # merged: the keys of the base, nothing more
        assert loaded.keys() == base.keys()
        return {"click-box": 0.5}

    out = tmp_path / "lora"
    cfg = config(
        dataset, out, max_steps=2, lora=True, lora_r=4, lora_alpha=8, eval_every=1, eval_data=held_out, ablation_n=2
    )
    result = train(cfg, evaluate=evaluate)
    assert [s for _, s in calls] == [1, 2] and calls[-1][0] == out
    evals = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    evals = [e for e in evals if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [1, 2] and evals[-1]["success"] == {"click-box": 0.5}
    assert set(evals[-1]["ablation"]) == {"with_image", "blanked", "image_gain_nats", "n"}
    assert result.evals[-1]["overall"] == 0.5
    merged = load_file(out / "model.safetensors")
    assert merged.keys() == base.keys()
    changed = {k for k in base if not torch.equal(base[k], merged[k])}
    assert changed and all(k.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "o_proj") for k in changed), changed
    assert not any("visual" in k for k in changed)
    model, _ = load_model(str(out), dtype=None, device="cpu")
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert (out / "success.png").exists()
    check = ablation_check(out, held_out, n=2)
    assert 0 <= check["with_image"] <= 1 and 0 <= check["blanked"] <= 1 and check["n"] == 2


@pytest.mark.parametrize("aux", [0.0, 1.0], ids=["lm-loss", "with-aux-grounding"])
def test_a_killed_run_resumes_where_its_checkpoint_left_off(dataset: Path, tmp_path: Path, aux: float) -> None:
    import torch
    from safetensors.torch import load_file

    class Killed(Exception):
        pass

    def kill_after_4(step: int, loss: float) -> None:
        if step == 4:  # step 3 is checkpointed, step 4 is lost with the process
            raise Killed

    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(config(dataset, out, max_steps=6, save_every=3, batch_size=3, aux_grounding=aux), on_step=kill_after_4)
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 3 and state["micro_batches"] == 3
    optimizer = torch.load(out / "checkpoint" / "optimizer.pt", weights_only=False)
    assert all(int(s["step"]) == 3 for s in optimizer["state"].values())

    with pytest.raises(TrainError, match="already holds a training run"):
        train(config(dataset, out, max_steps=6, save_every=3, batch_size=3, aux_grounding=aux))
    with pytest.raises(TrainError, match="same data order: batch_size 3 -> 4"):
        train(config(dataset, out, max_steps=6, save_every=3, batch_size=4, aux_grounding=aux, resume=True))
    train(config(dataset, out, max_steps=6, save_every=3, batch_size=3, aux_grounding=aux, resume=True))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5, 6]
    assert all(("aux_loss" in e) == (aux > 0) for e in log)
    assert (out / "checkpoint" / "aux_probe.pt").exists() == (aux > 0)
    assert json.loads((out / "checkpoint" / "trainer_state.json").read_text())["step"] == 6

    # the reference run has its batches prepared by worker processes: the same stream, the same weights
    straight = tmp_path / "straight"
    train(config(dataset, straight, max_steps=6, save_every=3, batch_size=3, aux_grounding=aux, workers=2))
    resumed, reference = load_file(out / "model.safetensors"), load_file(straight / "model.safetensors")
    assert resumed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=1e-4, atol=1e-5)


def cli(*args: str | Path) -> Any:
    """`pixelpilot train ...` in this process (the model-free refusals need no fresh interpreter)."""
    from typer.testing import CliRunner

    from pixelpilot.cli import app

    return CliRunner().invoke(app, ["train", *map(str, args)])


def assert_one_line_error(result: Any, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_input_is_one_line_and_exit_2(dataset: Path, tmp_path: Path) -> None:
    empty = write_dataset(tmp_path / "empty", rows=False)
    other = tmp_path / "not-qwen"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "llama"}))
    common = ("--dialect", DIALECT, "--out", tmp_path / "out")
    assert_one_line_error(cli("--data", empty, "--base", "tiny", *common), "no rows")
    assert_one_line_error(cli("--data", tmp_path / "missing", "--base", "tiny", *common), "no such dataset folder")
    assert_one_line_error(
        cli("--data", dataset, "--base", "tiny", "--dialect", "qwen2-vl", "--out", tmp_path / "out"),
        "built for dialect 'showui'",
    )
    assert_one_line_error(cli("--data", dataset, "--base", other, *common), "model_type 'llama'")
    assert_one_line_error(cli("--data", dataset, "--base", "tiny", *common, "--resume"), "nothing to resume")


def test_the_small_architecture_gives_image_columns_distinct_rotary_angles(tmp_path: Path) -> None:
    """M-RoPE's width section holds the head's lowest frequencies; at Qwen2-VL's base (1e6) and
    head_dim 32 they turn by ~0.002 rad across a screenshot, and a model trained from scratch
    cannot tell left from right. The small architecture's base must leave columns apart."""
    from pixelpilot.agent.train.base_model import build_small_qwen2vl

    config = json.loads((build_small_qwen2vl(tmp_path / "small") / "config.json").read_text())["text_config"]
    rope = config["rope_parameters"]
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    freqs = [rope["rope_theta"] ** (-2 * i / head_dim) for i in range(head_dim // 2)]
    width_section = freqs[-rope["mrope_section"][2] :]
    columns = 8  # a MiniWoB screenshot at scale 1 is 8 merged tokens wide
    assert max(width_section) * (columns - 1) > 1.0, width_section


def test_aux_grounding_targets_mark_the_merged_token_under_the_click() -> None:
    from pixelpilot.agent.train.aux_grounding import token_targets

    click = {"action": json.dumps({"action": "click", "x": 150, "y": 40}), "width": 168, "height": 224}
    typing = {"action": json.dumps({"action": "type", "text": "hi"}), "width": 168, "height": 224}
    rows = [click | {"images": [1, 2]}, typing | {"images": [1]}]
    grids = [[1, 16, 12], [1, 16, 12], [1, 16, 12]]  # 224x168 px: 8 x 6 merged tokens per image
    targets = token_targets(rows, grids, merge=2)
    assert targets.shape == (3 * 48, 3)
    hot = targets[:, 0].nonzero().flatten().tolist()
    assert hot == [1 * 6 + 5]  # y 40/224 -> merged row 1, x 150/168 -> merged column 5; history and type: none
    assert targets[hot[0], 1:].tolist() == pytest.approx([2 * 150 / 168 - 1, 2 * 40 / 224 - 1])
    with pytest.raises(ValueError, match="3 images but image_grid_thw lists 2"):
        token_targets(rows, grids[:2], merge=2)


def test_tf32_is_on_for_the_steps_only() -> None:
    import torch

    from pixelpilot.agent.train.trainer import tf32

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with pytest.raises(RuntimeError), tf32(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        raise RuntimeError("a run killed mid-step")
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with tf32(False):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
