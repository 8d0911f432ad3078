"""Can a model of the default model's architecture learn to copy the instruction's text, and from where?

Text-only rows shaped like a typing step (``Enter "s" into the text field ...`` with a random 2-8
character string ``s``, answered ``Action: type(content='s')``), no screenshot, trained densely;
every ``--every`` steps the greedy answer on 60 fresh strings is checked for an exact copy. Run from
a model folder's weights (default), or from random weights of its architecture (``--scratch``),
optionally with another M-RoPE base (``--theta``). Prints one JSON line per check. Figures and what
they mean: docs/TRAINING.md, "A copy stage".

    OMP_NUM_THREADS=1 .venv/bin/python scripts/copy_lab.py agent/qwen/default_model [--scratch] [--theta 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time
from typing import Any

PROMPTS = (
    'Enter "{}" into the text field and press Submit.',
    'Enter the password "{}" into both text fields and press submit.',
    'Type "{}" in the box.',
)


def sample(rng: random.Random) -> tuple[str, str, str]:
    """(prompt in the chat template's text form, answer with the end-of-turn token, the string)."""
    s = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(2, 8)))
    prompt = (
        "<|im_start|>system\nGUI agent.<|im_end|>\n<|im_start|>user\nThe user query: "
        + rng.choice(PROMPTS).format(s)
        + "\nTask progress (you have done the following on the current screen):\n"
        "Step 1: Action: click(start_box='(419,362)')\nReply with the next action.<|im_end|>\n<|im_start|>assistant\n"
    )
    return prompt, f"Action: type(content='{s}')<|im_end|>", s


def batch(tok: Any, rng: random.Random, n: int) -> tuple[Any, Any, Any]:
    """Input ids, labels (the answer only) and attention mask of ``n`` fresh rows, right-padded."""
    import torch

    ids, labels = [], []
    for _ in range(n):
        prompt, answer, _ = sample(rng)
        p, a = tok(prompt)["input_ids"], tok(answer)["input_ids"]
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, ids))
    pad = tok.pad_token_id or 0
    x = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
    y = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    return x, y, mask


def copies_right(model: Any, tok: Any, n: int = 60) -> float:
    """Share of ``n`` fresh strings (always the same ones) that the greedy answer types exactly."""
    import torch

    model.eval()
    rng, right = random.Random(999), 0
    with torch.no_grad():
        for _ in range(n):
            prompt, _, s = sample(rng)
            x = tok(prompt, return_tensors="pt")
            out = model.generate(**x, max_new_tokens=20, do_sample=False)
            text = tok.decode(out[0, x["input_ids"].shape[1] :], skip_special_tokens=True)
            right += text.strip().startswith(f"Action: type(content='{s}')")
    model.train()
    return right / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model folder (its tokenizer and architecture; its weights unless --scratch)")
    ap.add_argument("--scratch", action="store_true", help="random weights of the folder's architecture")
    ap.add_argument("--theta", type=float, help="another M-RoPE base for the language model")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--every", type=int, default=150, help="steps between checks")
    ap.add_argument("--seconds", type=float, default=600, help="stop at the first check after this long")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    config = Qwen2VLConfig.from_pretrained(args.model)
    if args.theta:
        config.text_config.rope_parameters["rope_theta"] = args.theta
    if args.scratch:
        model = Qwen2VLForConditionalGeneration(config)
    else:
        model = Qwen2VLForConditionalGeneration.from_pretrained(args.model, config=config, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    rng, t0 = random.Random(1), time.time()
    theta = config.text_config.rope_parameters["rope_theta"]
    print(json.dumps({"step": 0, "copies_right": copies_right(model, tok), "theta": theta, "scratch": args.scratch}))
    for step in range(1, args.steps + 1):
        x, y, mask = batch(tok, rng, args.batch)
        loss = model(input_ids=x, attention_mask=mask, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        late = time.time() - t0 > args.seconds
        if step % args.every == 0 or late or step == args.steps:
            right = copies_right(model, tok)
            print(json.dumps({"step": step, "loss": round(loss.item(), 4), "copies_right": right,
                              "seconds": round(time.time() - t0)}), flush=True)  # fmt: skip
            if late:
                break


if __name__ == "__main__":
    main()
