"""`riskstream eval nab` validates its corpus: both layouts, and a clear error for every defect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from riskstream.cli.main import main
from riskstream.evaluation import CorpusError, load_corpus, run_nab
from riskstream.evaluation.nab import score_series
from riskstream.evaluation.nab_lofo import by_folder, held_out
from riskstream.evaluation.nab_reference import WindowedGaussian

PROFILES = {
    "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}},
    "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0}},
}
GOOD = ["timestamp,value"] + [f"2024-01-01 {h:02d}:{m:02d}:00,{1.0 + (h * 60 + m == 700) * 9}"
                              for h in range(24) for m in range(0, 60, 5)]
WINDOW = ["2024-01-01 11:00:00", "2024-01-01 12:30:00"]


def _corpus(root: Path, lines: list[str] | None = None, *, nab_layout: bool = False,
            windows: dict[str, list[list[str]]] | None = None, folders: tuple[str, ...] = ("f", "g")) -> Path:
    profiles = root / "config" / "profiles.json" if nab_layout else root / "profiles.json"
    profiles.parent.mkdir(parents=True, exist_ok=True)
    profiles.write_text(json.dumps(PROFILES))
    for folder in folders:
        (root / "data" / folder).mkdir(parents=True, exist_ok=True)
        (root / "data" / folder / "a.csv").write_text("\n".join(GOOD) + "\n")
    if lines is not None:
        (root / "data" / "f" / "a.csv").write_text("\n".join(lines) + "\n")
    (root / "labels").mkdir(exist_ok=True)
    labels = windows if windows is not None else {f"{f}/a.csv": [WINDOW] for f in folders}
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    return root


@pytest.mark.parametrize("nab_layout", [False, True], ids=["flat", "nab_repository"])
def test_both_layouts_load(tmp_path: Path, nab_layout: bool) -> None:
    corpus = load_corpus(_corpus(tmp_path, nab_layout=nab_layout))
    assert corpus.folders == ("f", "g")
    assert set(corpus.profiles) == set(PROFILES)
    assert len(corpus.series[0].values) == len(GOOD) - 1


def test_header_names_are_case_insensitive_and_extra_columns_ignored(tmp_path: Path) -> None:
    lines = ["Extra,VALUE,TimeStamp"] + [f"x,{row.split(',')[1]},{row.split(',')[0]}" for row in GOOD[1:]]
    corpus = load_corpus(_corpus(tmp_path, lines))
    assert corpus.series[0].values == load_corpus(_corpus(tmp_path / "b")).series[0].values


def _with_row(row: int, text: str) -> list[str]:
    lines = list(GOOD)
    lines[row - 1] = text
    return lines


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (_with_row(5, "2024-01-01 00:15:00,"), "f/a.csv row 5: empty value"),
        (_with_row(5, "2024-01-01 00:15:00,abc"), "f/a.csv row 5: value 'abc' is not a number"),
        (_with_row(5, "2024-01-01 00:15:00,NaN"), "f/a.csv row 5: value 'NaN' is not finite"),
        (_with_row(5, "2024-01-01 00:15:00,inf"), "f/a.csv row 5: value 'inf' is not finite"),
        (_with_row(5, "yesterday,1.0"), "f/a.csv row 5: timestamp 'yesterday' is not an ISO date-time"),
        (_with_row(5, "2024-01-01 00:10:00,1.0"), "f/a.csv row 5: timestamp 2024-01-01 00:10:00 repeats"),
        (_with_row(5, "2024-01-01 00:00:00,1.0"), "f/a.csv row 5: timestamp 2024-01-01 00:00:00 is earlier"),
        (_with_row(5, ""), "f/a.csv row 5: empty row"),
        (_with_row(5, "2024-01-01 00:15:00"), "f/a.csv row 5: 1 columns"),
        (["time,val", *GOOD[1:]], "f/a.csv row 1: header"),
        (["timestamp,value"], "f/a.csv: no data rows"),
    ],
    ids=["empty", "non_numeric", "nan", "inf", "bad_time", "duplicate", "unsorted", "blank_row",
         "short_row", "header", "no_rows"],
)
def test_bad_rows_stop_with_file_and_row(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(CorpusError, match="^" + message.replace("(", r"\(")):
        load_corpus(_corpus(tmp_path, lines))


def test_repeated_timestamps_are_kept_in_file_order_when_asked_and_said(tmp_path: Path) -> None:
    corpus = load_corpus(_corpus(tmp_path, _with_row(5, "2024-01-01 00:10:00,1.0")), time_order="file")
    assert len(corpus.series[0].values) == len(GOOD) - 1
    assert corpus.notes == ("f/a.csv: 1 rows repeat or precede the previous timestamp (rows 5)",)


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ({"f/a.csv": [["2030-01-01 00:00:00", "2030-01-02 00:00:00"]]}, "f/a.csv window 0 .* matches no row"),
        ({"f/a.csv": [["2024-01-01 12:00:00", "2024-01-01 11:00:00"]]}, "f/a.csv window 0: ends before"),
        ({"f/a.csv": [["soon", "later"]]}, "f/a.csv window 0: .* is not \\[start, end\\]"),
        ({"f/zzz.csv": [WINDOW]}, "windows for 'f/zzz.csv', which is not under data/"),
    ],
    ids=["no_row", "reversed", "unparsable", "unknown_file"],
)
def test_bad_windows_stop_with_the_file(tmp_path: Path, windows: dict[str, list[list[str]]], message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        load_corpus(_corpus(tmp_path, windows=windows))


def test_folder_without_series_stops(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    (root / "data" / "empty").mkdir()
    with pytest.raises(CorpusError, match="empty: folder has no series"):
        load_corpus(root)


@pytest.mark.parametrize("missing", ["profiles.json", "labels/combined_windows.json"])
def test_missing_metadata_stops(tmp_path: Path, missing: str) -> None:
    root = _corpus(tmp_path)
    (root / missing).unlink()
    with pytest.raises(CorpusError, match="no .*" + missing.split("/")[-1]):
        load_corpus(root)


def test_cli_reports_a_defect_without_traceback(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c", _with_row(7, "2024-01-01 00:25:00,oops"))
    result = CliRunner().invoke(main, ["eval", "nab", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "f/a.csv row 7: value 'oops' is not a number" in result.output
    assert "Traceback" not in result.output


def test_cli_reports_every_profile(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c")
    result = CliRunner().invoke(main, ["eval", "nab", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "standard" in result.output and "reward_low_FP_rate" in result.output


def test_run_nab_scores_the_spike(tmp_path: Path) -> None:
    result = run_nab(_corpus(tmp_path), WindowedGaussian)
    assert result.rows_scored == 2 * (len(GOOD) - 1)
    assert result.profiles["standard"].normalized_score > 50.0


def test_lofo_chooses_without_the_held_out_folder(tmp_path: Path) -> None:
    corpus = load_corpus(_corpus(tmp_path, folders=("f", "g", "h")))
    good = by_folder(score_series(WindowedGaussian, corpus)[0])
    silent = {f: [s.__class__(s.key, s.timestamps, s.values, (0.0,) * len(s.scores), s.windows) for s in ss]
              for f, ss in good.items()}
    res = held_out({"silent": silent, "gauss": good}, corpus.profiles, reference=good)
    assert [f.chosen for f in res.folds] == ["gauss"] * 3
    for f in res.folds:
        assert f.scores["standard"] == f.reference["standard"]
        assert f.scores["standard"].normalized is not None and f.scores["standard"].normalized > 50.0
    assert res.overall == res.reference_overall
