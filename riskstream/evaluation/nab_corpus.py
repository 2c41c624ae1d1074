"""Read and validate a labeled corpus in NAB's layout; every defect is a :class:`CorpusError` naming file and row.

Two layouts are accepted:

* NAB's own repository: ``config/profiles.json``, ``labels/combined_windows.json``,
  ``data/<folder>/<name>.csv``;
* the flat one of ``benchmarks/nab-dev``: ``profiles.json`` at the top instead of
  under ``config/``.

Header names are case-insensitive (``timestamp``/``value``; extra columns are
ignored). A value that is empty, non-numeric, NaN or infinite, a timestamp that
does not parse, goes backwards or repeats (unless ``time_order="file"``: NAB's
own files repeat an hour at daylight-saving changes and one goes back once, and
NAB scores them in file order), a label window that covers no row of
its file or names a file that does not exist, and a folder without a series all
stop the load: a benchmark scored over silently dropped rows is not a score.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> (root / "data" / "f").mkdir(parents=True)
>>> _ = (root / "data" / "f" / "a.csv").write_text("Timestamp,Value\\n2024-01-01 00:00:00,1\\nbad,2\\n")
>>> try:
...     read_series(root / "data" / "f" / "a.csv", "f/a.csv")
... except CorpusError as e:
...     print(e)
f/a.csv row 3: timestamp 'bad' is not an ISO date-time
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

TimeOrder = Literal["strict", "file"]
"""``strict``: timestamps must increase; ``file``: repeated or backward ones are kept, in file order."""

Window = tuple[datetime, datetime]


class CorpusError(ValueError):
    """The corpus cannot be scored as given; the message names the file and, where it applies, the row."""


@dataclass(frozen=True)
class Profile:
    """One NAB cost profile (the true-negative weight plays no part in NAB's score)."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True)
class Series:
    """One validated series: ``stamps`` as written, parsed ``timestamps``, ``values`` and label ``windows``."""

    key: str
    stamps: tuple[str, ...]
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    windows: tuple[Window, ...]

    @property
    def folder(self) -> str:
        return self.key.split("/", 1)[0]


@dataclass(frozen=True)
class Corpus:
    """Profiles and series of one benchmark folder."""

    root: Path
    profiles: dict[str, Profile]
    series: tuple[Series, ...]
    notes: tuple[str, ...] = ()  # what was accepted but is worth saying (time_order="file")

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(sorted({s.folder for s in self.series}))


def parse_timestamp(text: str) -> datetime:
    """NAB timestamps are naive UTC; event time in riskstream is always aware.

    >>> parse_timestamp("2014-02-14 14:30:00").isoformat()
    '2014-02-14T14:30:00+00:00'
    """
    t = datetime.fromisoformat(text.strip())
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: cannot read: {e}") from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None


def profiles_path(root: Path) -> Path:
    """``config/profiles.json`` (NAB's layout) or ``profiles.json`` (the flat one)."""
    for candidate in (root / "config" / "profiles.json", root / "profiles.json"):
        if candidate.is_file():
            return candidate
    raise CorpusError(f"{root}: no config/profiles.json or profiles.json")


def load_profiles(path: Path) -> dict[str, Profile]:
    """Read NAB's ``profiles.json``: ``{name: {"CostMatrix": {"tpWeight": .., "fpWeight": .., "fnWeight": ..}}}``."""
    raw = _read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise CorpusError(f"{path}: expected an object of profiles")
    out: dict[str, Profile] = {}
    for name, body in raw.items():
        try:
            cm = body["CostMatrix"]
            weights = [float(cm[k]) for k in ("tpWeight", "fpWeight", "fnWeight")]
        except (KeyError, TypeError, ValueError) as e:
            raise CorpusError(f"{path}: profile {name!r} needs CostMatrix tpWeight, fpWeight, fnWeight ({e})") from None
        if not all(math.isfinite(w) and w >= 0 for w in weights):
            raise CorpusError(f"{path}: profile {name!r} has a negative or non-finite weight")
        out[name] = Profile(name, *weights)
    return out


def read_series(
    path: Path, key: str, time_order: TimeOrder = "strict", notes: list[str] | None = None
) -> tuple[list[str], list[datetime], list[float]]:
    """Validated ``(stamps, timestamps, values)`` of one CSV; row numbers count the header as row 1.

    With ``time_order="file"`` a repeated or backward timestamp is kept and
    described in ``notes`` instead of stopping the load.
    """
    disorder: list[int] = []
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f"{key}: cannot read: {e}") from None
    if not rows:
        raise CorpusError(f"{key}: empty file (no header)")
    header = [h.strip().lower() for h in rows[0]]
    try:
        it, iv = header.index("timestamp"), header.index("value")
    except ValueError:
        raise CorpusError(f"{key} row 1: header {rows[0]!r} needs columns 'timestamp' and 'value'") from None
    stamps: list[str] = []
    times: list[datetime] = []
    values: list[float] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            raise CorpusError(f"{key} row {lineno}: empty row")
        if len(row) <= max(it, iv):
            raise CorpusError(f"{key} row {lineno}: {len(row)} columns, header has {len(header)}")
        stamp, text = row[it].strip(), row[iv].strip()
        try:
            t = parse_timestamp(stamp)
        except ValueError:
            raise CorpusError(f"{key} row {lineno}: timestamp {stamp!r} is not an ISO date-time") from None
        if not text:
            raise CorpusError(f"{key} row {lineno}: empty value")
        try:
            x = float(text)
        except ValueError:
            raise CorpusError(f"{key} row {lineno}: value {text!r} is not a number") from None
        if not math.isfinite(x):
            raise CorpusError(f"{key} row {lineno}: value {text!r} is not finite")
        if times and t <= times[-1]:
            what = "repeats" if t == times[-1] else "is earlier than"
            if time_order == "strict":
                raise CorpusError(
                    f"{key} row {lineno}: timestamp {stamp} {what} the previous row's {stamps[-1]} "
                    "(to score such files in file order as NAB does: --time-order file)"
                )
            disorder.append(lineno)
        stamps.append(stamp)
        times.append(t)
        values.append(x)
    if not values:
        raise CorpusError(f"{key}: no data rows")
    if disorder and notes is not None:
        rows_text = ", ".join(str(r) for r in disorder[:5]) + (", ..." if len(disorder) > 5 else "")
        notes.append(f"{key}: {len(disorder)} rows repeat or precede the previous timestamp (rows {rows_text})")
    return stamps, times, values


def _windows(raw: Any, key: str, path: Path, times: list[datetime]) -> tuple[Window, ...]:
    if not isinstance(raw, list):
        raise CorpusError(f"{path}: {key}: expected a list of [start, end] windows")
    out: list[Window] = []
    for i, w in enumerate(raw):
        try:
            start, end = (parse_timestamp(str(v)) for v in w)
        except (TypeError, ValueError):
            raise CorpusError(f"{path}: {key} window {i}: {w!r} is not [start, end] timestamps") from None
        if end < start:
            raise CorpusError(f"{path}: {key} window {i}: ends before it starts")
        # Any row with start <= t <= end; times are sorted, so bisect would do, but files are small.
        if not any(start <= t <= end for t in times):
            raise CorpusError(f"{path}: {key} window {i} [{w[0]}, {w[1]}] matches no row of the file")
        out.append((start, end))
    return tuple(out)


def load_corpus(root: Path, time_order: TimeOrder = "strict") -> Corpus:
    """Load and validate every series of ``root`` (see the module docstring for the layouts)."""
    root = Path(root)
    notes: list[str] = []
    profiles = load_profiles(profiles_path(root))
    labels_path = root / "labels" / "combined_windows.json"
    if not labels_path.is_file():
        raise CorpusError(f"{root}: no labels/combined_windows.json")
    labels = _read_json(labels_path)
    if not isinstance(labels, dict):
        raise CorpusError(f"{labels_path}: expected an object of file -> windows")
    data = root / "data"
    if not data.is_dir():
        raise CorpusError(f"{root}: no data/ folder")
    series: list[Series] = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.csv"))
        if not files:
            raise CorpusError(f"{folder}: folder has no series (*.csv)")
        for path in files:
            key = f"{folder.name}/{path.name}"
            stamps, times, values = read_series(path, key, time_order, notes)
            windows = _windows(labels.get(key, []), key, labels_path, times)
            series.append(Series(key, tuple(stamps), tuple(times), tuple(values), windows))
    if not series:
        raise CorpusError(f"{data}: no data/<folder>/<name>.csv series")
    unknown = sorted(set(labels) - {s.key for s in series})
    if unknown:
        raise CorpusError(f"{labels_path}: windows for {unknown[0]!r}, which is not under data/")
    return Corpus(root, profiles, tuple(series), tuple(notes))
