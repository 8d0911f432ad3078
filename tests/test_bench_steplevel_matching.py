"""The two step-level matching modes: every rule where ``reference`` and ``strict`` differ, scored both ways.

Each case is computed by hand in the comment beside it. ``reference`` follows the AITZ evaluator
(IMNearth/CoAT coat/evaluate.py) and AITW's action_matching.py; ``strict`` is pixelpilot's own
documented rules. The last tests run a fixture AITZ episode through the CLI in both modes and check
Type and EM against hand counts, the run key and report naming the mode, and `bench compare`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pixelpilot.tasks.bench.contract import SuiteError
from pixelpilot.tasks.bench.steplevel import StepLevelSuite, default_matching, match_action, read_steplevel
from pixelpilot.tasks.bench.steplevel_reference import augmented_box, levenshtein_ratio

AITZ = Path(__file__).parent / "data" / "steplevel" / "aitz"
SQUARE = (1000, 1000)  # width, height: 1 px = 0.001 of the screen both ways


def click(x: float, y: float) -> dict[str, Any]:
    return {"action": "click", "x": x, "y": y}


def swipe(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"action": "swipe", "start_x": x0, "start_y": y0, "end_x": x1, "end_y": y1}


def scroll(direction: str) -> dict[str, Any]:
    return {"action": "scroll", "x": 500, "y": 500, "direction": direction}


def typed(text: str) -> dict[str, Any]:
    return {"action": "type", "text": text}


def both(gold: dict[str, Any], predicted: dict[str, Any], screen: tuple[int, int] = SQUARE, **kw: Any) -> list[bool]:
    """[reference exact, strict exact]; both modes must agree that the types match."""
    ref = match_action(gold, predicted, screen, mode="reference", **kw)
    strict = match_action(gold, predicted, screen, mode="strict", **kw)
    assert ref[0] and strict[0]
    return [ref[1], strict[1]]


# --------------------------------------------------------------------------------------------- click
# One wide box, x 100..500, y 100..200 (normalized top .1, left .1, height .1, width .4). AITW grows it by
# 1.4x its size: top .1 - .07 = .03, height .24 (bottom .27); left .1 - .28 < 0 -> 0, width .96 (right .96).
ROW = (100.0, 100.0, 500.0, 200.0)
GOLD_IN_ROW = click(150, 150)


def test_the_box_is_enlarged_by_1_4_before_the_box_test() -> None:
    assert augmented_box(ROW, SQUARE) == pytest.approx((0.03, 0.0, 0.24, 0.96))
    # (700, 250): outside the row, 0.559 of the screen away (hypot(.55, .1)), inside the enlarged row
    assert both(GOLD_IN_ROW, click(700, 250), gold_box=ROW) == [True, False]
    # (700, 280): below the enlarged bottom (.27): neither mode
    assert both(GOLD_IN_ROW, click(700, 280), gold_box=ROW) == [False, False]


def test_the_enlarged_box_keeps_its_width_when_clamped_at_the_left_edge() -> None:
    # AITW clamps left at 0 without giving the cut-off 0.18 back: the right edge is .96, not the .78 a
    # centred enlargement would give. (850, 150) is inside only because of that; (970, 150) is outside.
    assert both(GOLD_IN_ROW, click(850, 150), gold_box=ROW) == [True, False]
    assert both(GOLD_IN_ROW, click(970, 150), gold_box=ROW) == [False, False]
    # height and width are capped at the whole screen
    assert augmented_box((0.0, 0.0, 1000.0, 500.0), SQUARE) == pytest.approx((0.0, 0.0, 1.0, 1.0))


def test_any_annotated_box_holding_both_taps_counts_not_only_the_gold_elements() -> None:
    row, icon = (0.0, 600.0, 1000.0, 700.0), (20.0, 630.0, 60.0, 670.0)
    gold = click(40, 650)  # on the icon, inside the full-width row; strict's box is the smallest: the icon
    far_in_row = click(900, 650)  # 0.86 of the screen away, outside the icon's enlarged box (x up to .088)
    assert both(gold, far_in_row, gold_box=icon, boxes=[row, icon]) == [True, False]
    # without the row, reference has only the icon, and the tap is far: no
    assert both(gold, far_in_row, gold_box=icon, boxes=[icon]) == [False, False]
    # a box holding only the prediction does not count
    other = (800.0, 600.0, 1000.0, 700.0)
    assert both(gold, far_in_row, gold_box=icon, boxes=[icon, other]) == [False, False]


def test_the_14_percent_radius_is_the_same_in_both_modes() -> None:
    assert both(click(500, 500), click(640, 500)) == [True, True]  # exactly 0.14
    assert both(click(500, 500), click(641, 500)) == [False, False]


# -------------------------------------------------------------------------------------------- scroll
def test_a_gesture_is_vertical_down_to_0_9_of_its_horizontal_change() -> None:
    # finger from (500, 700) to (820, 400): dx .32, dy -.30. Strict: |dy| < |dx|, horizontal, finger
    # right -> content from the left: "left". AITZ extract_gt_action: .30 >= .9 * .32 = .288, vertical,
    # finger up -> "scroll up" in AITZ's words, content from below: "down" in pixelpilot's.
    gold = swipe(500, 700, 820, 400)
    assert both(gold, scroll("down")) == [True, False]
    assert both(gold, scroll("left")) == [False, True]


def test_the_axis_is_measured_in_screen_fractions_not_pixels() -> None:
    tall = (500, 1000)
    # finger from (100, 700) to (300, 460): 200 px across, 240 px up. Strict (pixels): vertical, "down".
    # Reference (fractions of the screen): dx .4, dy -.24 < .9 * .4 = .36, horizontal, finger right: "left".
    gold = swipe(100, 700, 300, 460)
    assert both(gold, scroll("left"), tall) == [True, False]
    assert both(gold, scroll("down"), tall) == [False, True]


# ---------------------------------------------------------------------------------------------- text
def test_levenshtein_ratio_is_the_normalized_indel_similarity() -> None:
    # kitten/sitting: longest common subsequence "ittn" (4): 2 * 4 / 13; lewenstein/levenshtein: indel 3, 1 - 3/21
    assert levenshtein_ratio("kitten", "sitting") == pytest.approx(8 / 13)
    assert levenshtein_ratio("lewenstein", "levenshtein") == pytest.approx(18 / 21)
    assert levenshtein_ratio("", "") == 1.0 and levenshtein_ratio("abc", "") == 0.0


def test_typed_text_containment_either_way() -> None:
    assert both(typed("Wireless Mouse"), typed("Mouse")) == [True, False]  # prediction inside the gold
    assert both(typed("Mouse"), typed("Wireless Mouse")) == [True, False]  # gold inside the prediction
    assert both(typed("Wireless Mouse"), typed("")) == [True, False]  # "" is inside every text (as in the source)


def test_typed_text_levenshtein_ratio_above_0_8() -> None:
    # colour/color: LCS 5, ratio 10/11 = .909 > .8, and neither contains the other
    assert both(typed("colour"), typed("color")) == [True, False]
    # abcd/abxy: LCS 2, ratio .5
    assert both(typed("abcd"), typed("abxy")) == [False, False]


def test_typed_text_is_compared_raw_by_reference() -> None:
    # Hello/hello: no containment (case), LCS "ello" 4, ratio 8/10 = .8, not above .8. Strict folds case.
    assert both(typed("Hello"), typed("hello")) == [False, True]


# --------------------------------------------------------------------------------------------- press
def test_presses_compare_aitw_button_codes() -> None:
    enter = {"action": "key", "keys": "Enter"}
    # Enter and Return are both AITW's PRESS_ENTER (7); strict compares the key names
    assert both(enter, {"action": "key", "keys": "Return"}) == [True, False]
    assert both(enter, {"action": "back"}) == [False, False]
    assert both({"action": "home"}, {"action": "home"}) == [True, True]
    # keys AITW has no code for fall back to the strict key comparison in both modes
    assert both({"action": "key", "keys": "Tab"}, {"action": "key", "keys": "tab"}) == [True, True]
    assert both({"action": "key", "keys": "Tab"}, {"action": "key", "keys": "ctrl+a"}) == [False, False]


def test_what_both_modes_share() -> None:
    done = {"action": "finish", "status": "success"}
    assert both(done, {"action": "finish", "status": "failure"}) == [True, True]  # AITZ: stop is exact on type
    for mode in ("reference", "strict"):
        assert match_action(done, {"action": "home"}, SQUARE, mode=mode) == (False, False)
        assert match_action(click(1, 1), None, SQUARE, mode=mode) == (False, False)
        # a swipe shorter than 4% of the screen is a tap (AITW is_tap_action)
        assert match_action(click(500, 500), swipe(500, 500, 500, 530), SQUARE, mode=mode) == (True, True)


def test_unknown_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown matching mode 'fuzzy'; known: reference, strict"):
        match_action(click(1, 1), click(1, 1), SQUARE, mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(SuiteError, match="--matching 'fuzzy': unknown matching mode"):
        StepLevelSuite(AITZ, matching="fuzzy")


# ------------------------------------------------------------------------------------- suite default
def test_aitz_data_defaults_to_reference_and_own_episodes_to_strict(tmp_path: Path) -> None:
    suite = StepLevelSuite(AITZ)
    assert suite.matching == "reference" and suite.settings()["matching"] == "reference"
    assert suite.describe_run()["matching"] == "reference"
    assert StepLevelSuite(AITZ, matching="strict").settings()["matching"] == "strict"
    # the same episode written as one of pixelpilot's own (bundles_to_steplevel adds the pixelpilot field)
    own = tmp_path / "own"
    shutil.copytree(AITZ / "general", own)
    episode = own / "GENERAL-111" / "GENERAL-111.json"
    steps = json.loads(episode.read_text())
    steps[0]["pixelpilot"] = {"action": {"action": "home"}}
    episode.write_text(json.dumps(steps))
    samples = read_steplevel(own)
    assert [s.origin for s in samples] == ["pixelpilot", "aitz", "aitz", "aitz"]
    assert default_matching(samples) == "strict" and StepLevelSuite(own).matching == "strict"
    # the mode travels to the workers with the pickled suite
    import pickle

    assert pickle.loads(pickle.dumps(StepLevelSuite(own, matching="reference"))).matching == "reference"


# ------------------------------------------------------------------------------- end to end, CLI
REFERENCE_SET = Path(__file__).parent / "data" / "steplevel" / "reference"
MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"  # what the replay server says it serves


def mobile(action: str, **arguments: Any) -> str:
    """A Qwen2.5-VL mobile_use tool call, as a served model would answer."""
    return (
        "<tool_call>\n"
        + json.dumps({"name": "mobile_use", "arguments": {"action": action, **arguments}})
        + "\n</tool_call>"
    )


# What the "model" answers at each of REF-1's eight steps. The screenshots are 560x1120, multiples of
# 28 inside the pixel budget given below, so the model's coordinates are screenshot pixels.
#   step gold (tests/data/steplevel/reference)       prediction                  reference   strict
#   0    home                                          click                        type miss   type miss
#   1    tap (40, 340) in row x 20..300, y 300..380     (400, 420): in the enlarged  exact       miss
#   2    tap (40, 650) on an icon inside a full row     (500, 650): in the row       exact       miss
#   3    finger (168,784)->(392,448): dx .4, dy -.3      finger right: "left"         exact       miss ("down")
#   4    type "Wireless Mouse"                          "Mouse"                      exact       miss
#   5    enter                                          key Return                   exact       miss
#   6    type "Hello"                                   "hello"                      miss        exact
#   7    complete                                       terminate failure            exact       exact
# Type: 7/8 in both modes. EM: reference 6/8, strict 2/8.
REPLIES = [
    mobile("click", coordinate=[280, 560]),
    mobile("click", coordinate=[400, 420]),
    mobile("click", coordinate=[500, 650]),
    mobile("swipe", coordinate=[100, 600], coordinate2=[460, 600]),
    mobile("type", text="Mouse"),
    mobile("key", text="Return"),
    mobile("type", text="hello"),
    mobile("terminate", status="failure"),
]


def _bench(server_url: str, out: Path, *extra: str) -> Any:
    from tests.test_exit_codes import pixelpilot

    return pixelpilot(
        "bench", "steplevel", "--data", REFERENCE_SET, "--endpoint", server_url,
        "--model", MODEL, "--dialect", "qwen2.5-vl", "--min-pixels", "3136",
        "--max-pixels", "1003520", "--max-repairs", "0", "--workers", "1", "--out", out, *extra,
    )  # fmt: skip


def test_a_fixture_episode_scored_end_to_end_in_both_modes(tmp_path: Path) -> None:
    from tests.replay_server import ReplayServer
    from tests.test_cli import assert_one_line_error
    from tests.test_exit_codes import pixelpilot

    runs = {"reference": tmp_path / "ref", "strict": tmp_path / "strict"}
    with ReplayServer(model=MODEL) as server:
        server.script(*REPLIES)
        default = _bench(server.url, runs["reference"])  # AITZ data: reference unless told otherwise
        server.script(*REPLIES)
        strict = _bench(server.url, runs["strict"], "--matching", "strict")
    assert default.returncode == 0, default.stderr + default.stdout
    assert strict.returncode == 0, strict.stderr + strict.stdout
    expected = {"reference": (0.875, 0.75), "strict": (0.875, 0.25)}
    keys = set()
    for mode, run in runs.items():
        summary = json.loads((run / "summary.json").read_text())
        suite = summary["suite_summary"]
        assert suite["matching"] == mode and suite["steps"] == 8
        assert (suite["type_match"], suite["exact_match"]) == expected[mode]
        assert summary["identity"]["suite_settings"]["matching"] == mode
        assert f"<td>{mode}</td>" in (run / "report.html").read_text()  # the report's header names it
        keys.add(summary["run_key"])
    assert len(keys) == 2  # the mode is part of the run key
    assert "matching: reference" in default.stdout and "matching: strict" in strict.stdout

    # resuming a run under the other mode is refused: its key differs
    proc = _bench("http://127.0.0.1:9/v1", runs["strict"], "--matching", "reference", "--resume")
    assert_one_line_error(proc, "refusing to resume")

    # bench compare refuses runs scored by different modes, in one line, unless told to go ahead
    proc = pixelpilot("bench", "compare", runs["reference"], runs["strict"])
    assert_one_line_error(proc, "--matching reference")
    assert "--allow-mixed-matching" in proc.stderr
    proc = pixelpilot("bench", "compare", runs["reference"], runs["strict"], "--allow-mixed-matching", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert any("different matching modes" in w for w in report["warnings"])
    assert (report["run_a"]["matching"], report["run_b"]["matching"]) == ("reference", "strict")
    assert (report["overall"]["rate_a"], report["overall"]["rate_b"]) == (0.75, 0.25)
    page = tmp_path / "cmp.html"
    proc = pixelpilot("bench", "compare", runs["reference"], runs["strict"], "--allow-mixed-matching", "--html", page)
    assert proc.returncode == 0 and "different matching modes" in proc.stderr
    assert "matching <code>reference</code>" in page.read_text() and "matching <code>strict</code>" in page.read_text()


def test_an_unknown_matching_mode_exits_2_with_one_line(tmp_path: Path) -> None:
    from tests.test_cli import assert_one_line_error
    from tests.test_exit_codes import pixelpilot

    proc = pixelpilot("bench", "steplevel", "--data", AITZ, "--policy", "oracle", "--matching", "fuzzy",
                      "--out", tmp_path / "x")  # fmt: skip
    assert_one_line_error(proc, "--matching 'fuzzy': unknown matching mode; known: reference, strict")
    assert not (tmp_path / "x").exists()
    # other suites do not take the option at all
    proc = pixelpilot("bench", "examples", "--policy", "oracle", "--matching", "strict", "--out", tmp_path / "y")
    assert proc.returncode == 2 and "--matching" in proc.stderr
