"""The evaluation harness on a short simulated run: rows, ranges, determinism, files, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Final

import orjson
import pytest

from riskstream.evaluation.harness import (
    HarnessResult,
    config_from_labels,
    evaluate_jsonl,
    evaluate_run,
    main,
    render,
    to_json,
)
from riskstream.evaluation.quality import Score
from riskstream.regions import REGIONS
from riskstream.sim import SimConfig, default_scenarios, read_labels, run, write_run
from tests.paths import REPO

POLICIES: Final = REPO / "policies"
# Six hours with the start of the recalled-sleeper surge and of the counterfeit wave: listings,
# reviews, content and a recall notice.
TINY: Final = SimConfig(duration_hours=6, events_per_hour=300,
                        scenarios=default_scenarios("prohibited_surge", "counterfeit_wave"))


@pytest.fixture(scope="module")
def result() -> HarnessResult:
    return evaluate_run(TINY, POLICIES)


def _rows(res: HarnessResult) -> list[Score]:
    a = res.report.actions
    return [a.overall, *a.by_detector, *a.by_scenario, *a.by_region]


def test_runs_all_regions_and_produces_detector_rows(result: HarnessResult) -> None:
    assert sorted(result.policies) == sorted(REGIONS)
    assert result.events == len(run(TINY).events) and result.actions > 0
    names = {s.name for s in result.report.actions.by_detector}
    assert {"prohibited_terms", "recall_match"} <= names
    assert "prohibited_surge-1" in {s.name for s in result.report.actions.by_scenario}
    assert result.events_per_s > 0 and result.incidents_evaluated


def test_numbers_are_rates(result: HarnessResult) -> None:
    for row in _rows(result):
        for value in (row.precision, row.recall, row.f1):
            assert value is None or 0.0 <= value <= 1.0, row
        assert min(row.tp, row.fp, row.fn, row.support) >= 0


def _without_timing(text: str) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(text)
    del obj["timing"]
    return obj


def test_deterministic_across_runs(result: HarnessResult) -> None:
    again = evaluate_run(TINY, POLICIES)
    assert _without_timing(to_json(again)) == _without_timing(to_json(result))


def test_render_has_every_section(result: HarnessResult) -> None:
    text = render(result)
    for heading in ("By detector", "By scenario", "By region", "Incidents (surge scenarios)", "events/s"):
        assert heading in text
    for region in REGIONS:
        assert f"\n  {region} " in text


def test_without_incidents_says_so() -> None:
    res = evaluate_run(TINY, POLICIES, include_incidents=False)
    assert not res.incidents_evaluated
    assert "Incidents: not scored (not requested)" in render(res)
    assert orjson.loads(to_json(res))["report"]["incidents"] is None


def test_refuses_a_policy_directory_missing_a_region(tmp_path: Path) -> None:
    shutil.copy(POLICIES / "eu.yaml", tmp_path / "eu.yaml")
    with pytest.raises(ValueError, match="SEA, UK, US"):
        evaluate_run(TINY, tmp_path, include_incidents=False)


def test_jsonl_scores_like_the_in_memory_run(tmp_path: Path, result: HarnessResult) -> None:
    events_path, labels_path = write_run(run(TINY), tmp_path / "run.jsonl")
    assert config_from_labels(read_labels(labels_path)) == TINY
    from_file = evaluate_jsonl(events_path, labels_path, POLICIES)
    assert from_file.incidents_evaluated
    assert _without_timing(to_json(from_file))["report"] == _without_timing(to_json(result))["report"]


def test_main_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events_path, _ = write_run(run(TINY), tmp_path / "run.jsonl")
    out = tmp_path / "eval.json"
    assert main(["--events", str(events_path), "--no-incidents", "--json", str(out)]) == 0
    assert "By detector" in capsys.readouterr().out
    assert orjson.loads(out.read_bytes())["events"] > 0
    assert main(["--policies", str(tmp_path)]) == 2  # no policies there


def test_render_seeds_sums_counts_over_seeds(result: HarnessResult) -> None:
    from riskstream.evaluation.harness import render_seeds

    text = render_seeds({1: result, 2: result})
    row = next(s for s in result.report.actions.by_detector if s.name == "prohibited_terms")
    line = next(ln for ln in text.splitlines() if ln.split()[:1] == ["prohibited_terms"])
    assert line.split()[-3:] == [str(2 * row.tp), str(2 * row.fp), str(2 * row.support)]
