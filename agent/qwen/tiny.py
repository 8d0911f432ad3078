"""Tiny, randomly initialised Qwen2-VL and Qwen3-VL checkpoints built offline in a few seconds.

Real transformers code paths (chat template, image processor, M-RoPE, vision tower, ``generate``)
run on them exactly as on Qwen2-VL-7B or Qwen3-VL-8B, only with nonsense weights: tests, benchmarks of framework
overhead and the learning loop use it where downloading a real checkpoint is not an option.
What it says is garbage; how many tokens it sees, and where, is not.

torch/transformers/tokenizers are imported inside the function so that importing ``pixelpilot.agent.qwen``
works without the ``local`` extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Qwen2-VL's special tokens, in the order (and relative ids) of the real vocabulary (151643...).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: The chat template shipped with Qwen/Qwen2-VL-7B-Instruct (chat_template.json), unchanged.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Qwen2's pre-tokenisation regex (tokenization_qwen2.PRETOKENIZE_REGEX).
_PRETOKENIZE_REGEX = "".join(
    (
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}""",
        r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    )
)

#: A few KB of the text an agent prompt and answer are made of: instructions, tool calls, coordinates, CJK.
_CORPUS = """
You are a helpful assistant. You are a GUI agent. You are given a task and a screenshot of the screen.
You need to perform a series of actions to complete the task. Click the button labelled Submit.
Type the text into the search box, then press Enter. Scroll down to find the settings menu.
Open the app drawer and launch the Calendar app. Go back to the home screen. Wait for the page to load.
The task is finished when the confirmation message appears. Answer the question about the page.
Find the login form, type the user name and the password, and click Sign in.
Select the second item in the list. Drag the slider to the right. Long press on the icon.
Thought: the button is in the top right corner of the page, so I will click it.
Action: click(start_box='(512,384)')
Action: type(content='hello world')
Action: scroll(direction='down')
Action: finished(content='done')
<tool_call>
{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [640, 360]}}
</tool_call>
<tool_call>
{"name": "computer_use", "arguments": {"action": "type", "text": "weather in Paris"}}
</tool_call>
<tool_call>
{"name": "mobile_use", "arguments": {"action": "swipe", "coordinate": [540, 1600], "coordinate2": [540, 400]}}
</tool_call>
{"action": "click", "x": 123, "y": 456}
{"action": "type", "text": "pixelpilot", "submit": true}
{"action": "scroll", "dx": 0, "dy": -300}
{"action": "key", "keys": ["Control", "a"]}
{"action": "answer", "text": "42"}
{"action": "finish", "status": "success"}
<|object_ref_start|>the blue button<|object_ref_end|><|box_start|>(120,340),(260,380)<|box_end|>
<|object_ref_start|>search field<|object_ref_end|><|box_start|>(10,20),(990,80)<|box_end|>
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 28 32 50 64 99 100 128 256 300 360 384 400 456
512 600 640 720 800 844 999 1000 1024 1080 1280 1600 1920 2048 2400 3.14 0.5 -1 +2 1e-3 12:30 2024-05-01
Punctuation: , . ; : ! ? ' " ( ) [ ] { } < > / \\ | - _ + = * & ^ % $ # @ ~ `
The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX. the quick brown fox.
Settings, Wi-Fi, Bluetooth, Display, Battery, Storage, Apps, Notifications, Privacy, About phone.
Home, Search, Menu, Cart, Checkout, Profile, Logout, Cancel, OK, Next, Previous, Save, Delete, Edit.
用户 点击 按钮 搜索 设置 打开 关闭 返回 主页 确定 取消 下一步 完成 任务 屏幕 截图 输入 文本 滑动 向下
请点击右上角的按钮。在搜索框中输入天气。打开设置并关闭蓝牙。返回主屏幕。任务已完成。
こんにちは 設定 検索 ボタン 확인 취소 검색 설정
"""


def _tokenizer(
    special: tuple[str, ...], chat_template: str, *, model_max_length: int, added: tuple[str, ...] = ()
) -> tuple[Any, dict[str, int]]:
    """A Qwen2Tokenizer (byte-level BPE trained on ``_CORPUS``) with ``special`` tokens appended in order.

    ``added`` are appended after them as ordinary added tokens (never split, but not special: Qwen3's
    ``<tool_call>`` and ``<think>`` survive ``skip_special_tokens``, as in the real vocabulary).
    Returns the tokenizer and the ids of every special and added token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    # Byte-level BPE with Qwen2's normaliser and pre-tokeniser; any text (CJK included) round-trips.
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=768, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    vocab = bpe.get_vocab()
    merges = [
        tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]
    ]

    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=model_max_length,
        errors="replace",
        split_special_tokens=False,
    )
    # Appended after the BPE vocabulary, in the real model's order, as special (never split) tokens.
    tokenizer.add_special_tokens({"additional_special_tokens": list(special)})
    if added:
        tokenizer.add_tokens(list(added), special_tokens=False)
    names = (*special, *added)
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in names}
    if len(set(ids.values())) != len(names) or any(v is None for v in ids.values()):
        raise RuntimeError(f"special tokens did not get distinct ids: {ids}")
    tokenizer.chat_template = chat_template
    return tokenizer, ids


def build_tiny_qwen2vl(out_dir: Path, *, seed: int = 0) -> Path:
    """Build a tiny random Qwen2-VL (model, tokenizer, image/video processor, chat template) in ``out_dir``.

    The folder loads offline with ``AutoProcessor.from_pretrained`` and
    ``AutoModelForImageTextToText.from_pretrained``; it takes a couple of seconds and about 1 MB.
    The image processor keeps transformers' defaults (min 56*56, max 1280*28*28 pixels), so token
    counts follow the real model's. Same ``seed``, same weights.
    """
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer, ids = _tokenizer(SPECIAL_TOKENS, QWEN2_VL_CHAT_TEMPLATE, model_max_length=32768)
    vocab_size = len(tokenizer)

    hidden = 64
    heads = 4
    head_dim = hidden // heads  # 16: M-RoPE sections (t, h, w) cover head_dim / 2 = 8 frequencies
    config = qwen2vl_config(
        ids,
        vocab_size,
        hidden=hidden,
        heads=heads,
        kv_heads=2,
        intermediate=128,
        layers=2,
        mrope_section=(2, 3, 3),
        # One layer, one 16-wide head: the vision tower attends over all 14-px patches at once
        # (~4,800 for a 1280x720 screenshot), so its cost is what keeps a CPU step fast.
        vision_depth=1,
        vision_embed=16,
        vision_heads=1,
        vision_mlp_ratio=2,
    )
    assert sum(config.text_config.rope_parameters["mrope_section"]) * 2 == head_dim

    with torch.random.fork_rng(devices=[]):  # same seed, same weights; the caller's RNG is left alone
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )

    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280})
    video_processor = Qwen2VLVideoProcessor()
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )

    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def qwen2vl_config(
    ids: dict[str, int],
    vocab_size: int,
    *,
    hidden: int,
    heads: int,
    kv_heads: int,
    intermediate: int,
    layers: int,
    mrope_section: tuple[int, int, int],
    vision_depth: int,
    vision_embed: int,
    vision_heads: int,
    vision_mlp_ratio: int,
    rope_theta: float = 1000000.0,
) -> Any:
    """A Qwen2VLConfig of the given size wired to this tokenizer's special-token ids (``ids``)."""
    from transformers import Qwen2VLConfig

    return Qwen2VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": rope_theta, "mrope_section": list(mrope_section)},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": vision_depth,
            "embed_dim": vision_embed,
            "hidden_size": hidden,  # the patch merger projects into the text model's width
            "num_heads": vision_heads,
            "mlp_ratio": vision_mlp_ratio,
            "in_channels": 3,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )


#: Qwen3-VL's vocabulary after the BPE part: Qwen2-VL's special tokens, then Qwen3's added (not special) ones.
QWEN3_ADDED_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)

#: The chat template shipped with Qwen/Qwen3-VL-*-Instruct (chat_template.json): no default system prompt,
#: tools in the system turn, tool calls and tool responses (which may hold images) as in Qwen3.
QWEN3_VL_CHAT_TEMPLATE = (
    r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"""
    r"""You are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments """
    r"""within <tool_call></tool_call> XML tags:\n<tool_call>\n"""
    r"""{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' }}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- for message in messages %}
    {%- if message.role == "user" %}
        {{- '<|im_start|>' + message.role + '\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content_item in message.content %}
                {%- if 'text' in content_item %}
                    {{- content_item.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and message.content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""
)

#: Qwen3-VL's processor limits (preprocessor_config.json on the hub): 64 to 16,384 visual tokens of 32x32 px.
QWEN3_VL_MIN_PIXELS = 64 * 32 * 32
QWEN3_VL_MAX_PIXELS = 16384 * 32 * 32


def build_tiny_qwen3vl(out_dir: Path, *, seed: int = 0) -> Path:
    """Build a tiny random Qwen3-VL (model, tokenizer, image/video processor, chat template) in ``out_dir``.

    What differs from Qwen2-VL is what breaks integrations, so it is kept as transformers defines it:
    16-px patches merged 2x2 (a resize factor of 32, not 28), a learned vision position grid resampled
    to each image, DeepStack (features of early vision blocks added to the first decoder layers),
    interleaved M-RoPE (t, h, w frequencies interleaved rather than in blocks), QK-norm, the
    processor's ``mm_token_type_ids``, and the Instruct chat template (no default system prompt).
    The processor keeps the hub's limits (64 to 16,384 tokens). Same ``seed``, same weights.
    """
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer, ids = _tokenizer(
        SPECIAL_TOKENS, QWEN3_VL_CHAT_TEMPLATE, model_max_length=262144, added=QWEN3_ADDED_TOKENS
    )
    hidden, head_dim = 64, 16
    # Interleaved M-RoPE over head_dim / 2 = 8 frequencies: h takes 1, 4; w takes 2, 5; t the rest
    # (0, 3, 6, 7): the real [24, 20, 20] over 64 in miniature.
    mrope_section = [4, 2, 2]
    assert sum(mrope_section) * 2 == head_dim
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": head_dim,
            "max_position_embeddings": 262144,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": mrope_section,
                "mrope_interleaved": True,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": False,
        },
        vision_config={
            # Two blocks of one 16-wide head, both feeding DeepStack (the real 8B: 27 blocks, taps 8, 16, 24).
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_heads": 1,
            "in_channels": 3,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": hidden,  # the mergers project into the text model's width
            "num_position_embeddings": 64,  # an 8x8 learned grid, bilinearly resampled to each image
            "deepstack_visual_indexes": [0, 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng(devices=[]):  # same seed, same weights; the caller's RNG is left alone
        torch.manual_seed(seed)
        model = Qwen3VLForConditionalGeneration(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )

    vision = {
        "patch_size": 16,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
    }
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": QWEN3_VL_MIN_PIXELS, "longest_edge": QWEN3_VL_MAX_PIXELS}, **vision
    )
    video_processor = Qwen3VLVideoProcessor(size={"shortest_edge": 4096, "longest_edge": 25165824}, **vision)
    processor = Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
