"""Per-region window models: an IsolationForest over closed windows' feature vectors.

A region's model is trained offline on that region's closed windows
(:func:`train`), saved in skops' safe format with a JSON sidecar of metadata
(:func:`save`; never pickle), and loaded back only if every type in the file
is one we trust and the file's hash matches its sidecar (:func:`load`).
Scoring is batch (:meth:`RegionModel.score_batch`), so the stream layer can
run it in a worker thread off the event loop.  A region without a model falls
back to streaming detectors, one per feature (:class:`RegionScorer`); each
score says which was used.

>>> import tempfile
>>> from datetime import UTC, datetime, timedelta
>>> from riskstream.models.aggregates import ClosedWindow
>>> t0 = datetime(2026, 3, 2, tzinfo=UTC)
>>> def win(i, n):
...     f = {"listings_new": float(n), "listings_updated": 0.0, "listings_removed": 0.0,
...          "_new_seller_listings": 0.0, "_flagged_listings": 0.0, "enforced_removals": 0.0, "_priced": 0.0,
...          "_logratio_sum": 0.0, "_logratio_sq": 0.0, "_deep_discount": 0.0, "reviews": 0.0,
...          "_low_ratings": 0.0, "safety_complaints": 0.0, "content_posts": 0.0,
...          "restricted_promotions": 0.0, "signals": 0.0}
...     s = t0 + timedelta(minutes=10 * i)
...     return ClosedWindow("EU", s, s + timedelta(minutes=10), {"toys": f}, (), 1)
>>> model = train([win(i, 10 + i % 3) for i in range(50)], "EU", version="v1")
>>> d = tempfile.mkdtemp()
>>> back = load(save(model, d))
>>> back.meta.region, back.meta.version, [m.version for m in list_models(d)]
('EU', 'v1', ['v1'])
>>> bool(back.score_batch(back.matrix([win(0, 500)]))[0] > back.score_batch(back.matrix([win(1, 11)]))[0])
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sklearn
import skops.io as sio
from sklearn.ensemble import IsolationForest

from riskstream.models.aggregates import FEATURES, ClosedWindow
from riskstream.models.timeseries import Threshold
from riskstream.models.ts_range import RangeAwareDetector, StreamDetector, detector_from_state

TRUSTED_TYPES: Final[frozenset[str]] = frozenset({
    "sklearn.ensemble._iforest.IsolationForest",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.random.mtrand.RandomState",
    "builtins.int",
    "builtins.float",
    "builtins.str",
    "builtins.list",
    "builtins.dict",
    "builtins.tuple",
    "builtins.NoneType",
    "builtins.bool",
})
"""Every type a saved region model may contain; a file with any other type is refused."""

SUFFIX: Final = ".skops"


class UntrustedModel(ValueError):
    """A model file that contains types we do not trust, or does not match its sidecar."""


@dataclass(frozen=True, slots=True)
class ModelMeta:
    """The JSON sidecar of a saved model."""

    region: str
    version: str
    features: tuple[str, ...]
    train_start: str
    train_end: str
    windows: int
    data_hash: str
    sklearn_version: str
    params: dict[str, Any] = field(default_factory=dict)
    file_hash: str = ""


@dataclass(frozen=True, slots=True)
class RegionModel:
    """A fitted IsolationForest for one region and its metadata."""

    meta: ModelMeta
    forest: IsolationForest

    def matrix(self, windows: Sequence[ClosedWindow]) -> npt.NDArray[np.float64]:
        """Feature matrix of `windows`, columns in this model's feature order."""
        return _matrix(windows, self.meta.features)

    def score_batch(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Anomaly score per row in (0, 1]; higher is more anomalous (IsolationForest's own score)."""
        out: npt.NDArray[np.float64] = -self.forest.score_samples(matrix)
        return out


@dataclass(frozen=True, slots=True)
class RegionScore:
    """How anomalous one closed window of one region looked, and which model said so."""

    region: str
    score: float
    source: str
    """``isolation_forest:<version>`` or ``streaming``."""
    anomalous: bool = False


def _matrix(windows: Sequence[ClosedWindow], features: Sequence[str]) -> npt.NDArray[np.float64]:
    rows = []
    for w in windows:
        f = w.features
        rows.append([f.get(name, 0.0) for name in features])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(features))


def train(windows: Sequence[ClosedWindow], region: str, *, version: str | None = None,
          n_estimators: int = 100, random_state: int = 0) -> RegionModel:
    """Fit an IsolationForest on `region`'s windows among `windows` (at least 10)."""
    mine = sorted((w for w in windows if w.region == region), key=lambda w: w.start)
    if len(mine) < 10:
        raise ValueError(f"need at least 10 windows of region {region!r} to train, got {len(mine)}")
    x = _matrix(mine, FEATURES)
    data_hash = hashlib.sha256(x.tobytes()).hexdigest()
    params = {"n_estimators": n_estimators, "random_state": random_state, "contamination": "auto"}
    forest = IsolationForest(n_estimators=n_estimators, random_state=random_state).fit(x)
    meta = ModelMeta(
        region=region, version=version or data_hash[:12], features=FEATURES,
        train_start=mine[0].start.isoformat(), train_end=mine[-1].end.isoformat(), windows=len(mine),
        data_hash=data_hash, sklearn_version=sklearn.__version__, params=params,
    )
    return RegionModel(meta, forest)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(model: RegionModel, directory: str | os.PathLike[str]) -> Path:
    """Write ``<region>-<version>.skops`` and its ``.json`` sidecar; return the model's path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{model.meta.region}-{model.meta.version}{SUFFIX}"
    sio.dump(model.forest, path)
    meta = asdict(model.meta) | {"file_hash": _file_hash(path), "features": list(model.meta.features)}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def _read_meta(path: Path) -> ModelMeta:
    obj = json.loads(path.with_suffix(".json").read_text())
    obj["features"] = tuple(obj["features"])
    return ModelMeta(**obj)


def load(path: str | os.PathLike[str]) -> RegionModel:
    """Load a saved model; raise UntrustedModel if it holds untrusted types or does not match its sidecar."""
    p = Path(path)
    meta = _read_meta(p)
    if meta.file_hash and meta.file_hash != _file_hash(p):
        raise UntrustedModel(f"{p.name}: file hash does not match its sidecar")
    try:
        untrusted = set(sio.get_untrusted_types(file=p))
    except Exception as exc:  # a file skops cannot even parse is not a model we load
        raise UntrustedModel(f"{p.name}: not a skops file ({exc})") from None
    unknown = sorted(untrusted - TRUSTED_TYPES)
    if unknown:
        raise UntrustedModel(f"{p.name}: untrusted types {unknown}")
    forest = sio.load(p, trusted=sorted(untrusted))
    if not isinstance(forest, IsolationForest):
        raise UntrustedModel(f"{p.name}: expected an IsolationForest, got {type(forest).__name__}")
    return RegionModel(meta, forest)


def list_models(directory: str | os.PathLike[str]) -> list[ModelMeta]:
    """Metadata of every model saved in `directory`, by region then training end."""
    d = Path(directory)
    if not d.is_dir():
        return []
    metas = [_read_meta(p) for p in d.glob(f"*{SUFFIX}") if p.with_suffix(".json").exists()]
    return sorted(metas, key=lambda m: (m.region, m.train_end, m.version))


def latest_models(directory: str | os.PathLike[str]) -> dict[str, RegionModel]:
    """The most recently trained model of each region in `directory`."""
    out: dict[str, RegionModel] = {}
    for meta in list_models(directory):
        out[meta.region] = load(Path(directory) / f"{meta.region}-{meta.version}{SUFFIX}")
    return out


class RegionScorer:
    """A region's IsolationForest when it has one, else one streaming detector per feature (max score).

    >>> RegionScorer({}).source("EU")
    'streaming'
    """

    def __init__(self, models: dict[str, RegionModel] | None = None, *, threshold: float = 0.62,
                 streaming: StreamDetector | None = None,
                 streaming_threshold: Threshold | None = None) -> None:
        self.models = dict(models or {})
        self.threshold = threshold
        self._prototype: StreamDetector = streaming or RangeAwareDetector()
        self._stream_threshold = streaming_threshold or Threshold(0.5)
        self._streams: dict[tuple[str, str], StreamDetector] = {}

    def source(self, region: str) -> str:
        m = self.models.get(region)
        return f"isolation_forest:{m.meta.version}" if m else "streaming"

    def score(self, windows: Sequence[ClosedWindow]) -> list[RegionScore]:
        """Score windows (batch per region for the forests; the streaming fallback also learns)."""
        out: list[RegionScore] = []
        for w in windows:
            model = self.models.get(w.region)
            if model is not None:
                s = float(model.score_batch(model.matrix([w]))[0])
                out.append(RegionScore(w.region, s, self.source(w.region), s >= self.threshold))
                continue
            best = 0.0
            for name, x in w.features.items():
                if name.startswith("_"):
                    continue
                det = self._streams.get((w.region, name))
                if det is None:
                    det = self._streams[(w.region, name)] = self._prototype.clone()
                best = max(best, det.score_one(w.end, x))
                det.learn_one(w.end, x)
            out.append(RegionScore(w.region, best, "streaming", self._stream_threshold(best)))
        return out

    def region_state(self, region: str) -> dict[str, Any]:
        """The streaming fallback's learned state for one region (JSON-able; empty with a forest)."""
        return {name: det.state_dict() for (r, name), det in sorted(self._streams.items()) if r == region}

    def restore_region(self, region: str, state: dict[str, Any]) -> None:
        """Put back what :meth:`region_state` returned (the region's owner keeps it in its table)."""
        for key in [k for k in self._streams if k[0] == region]:
            del self._streams[key]
        for name, obj in state.items():
            self._streams[(region, name)] = detector_from_state(obj)
