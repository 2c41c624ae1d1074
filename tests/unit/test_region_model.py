"""Region models: train, save/load round trip with metadata, refusal of untrusted or tampered files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sklearn
import skops.io as sio

from riskstream.models.aggregates import FEATURES, ClosedWindow
from riskstream.models.region_model import (
    RegionScorer,
    UntrustedModel,
    latest_models,
    list_models,
    load,
    save,
    train,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def window(i: int, listings: float, region: str = "EU") -> ClosedWindow:
    f = {k: 0.0 for k in ("listings_updated", "listings_removed", "_new_seller_listings", "_flagged_listings",
                          "enforced_removals", "_priced", "_logratio_sum", "_logratio_sq", "_deep_discount",
                          "_low_ratings", "safety_complaints", "content_posts", "restricted_promotions", "signals")}
    f |= {"listings_new": listings, "reviews": 2.0 * listings}
    start = T0 + timedelta(minutes=10 * i)
    return ClosedWindow(region, start, start + timedelta(minutes=10), {"toys": f}, (), int(listings))


@pytest.fixture
def windows() -> list[ClosedWindow]:
    return [window(i, 20 + (i * 7) % 5) for i in range(60)] + [window(i, 5, "UK") for i in range(3)]


def test_train_records_metadata(windows: list[ClosedWindow]) -> None:
    m = train(windows, "EU", version="2026-03-02")
    assert m.meta.region == "EU" and m.meta.windows == 60 and m.meta.features == FEATURES
    assert m.meta.train_start == T0.isoformat() and m.meta.sklearn_version == sklearn.__version__
    assert len(m.meta.data_hash) == 64
    with pytest.raises(ValueError, match="at least 10"):
        train(windows, "UK")


def test_save_load_round_trip(tmp_path: Path, windows: list[ClosedWindow]) -> None:
    m = train(windows, "EU", version="v1")
    path = save(m, tmp_path)
    assert path.suffix == ".skops" and path.with_suffix(".json").exists()
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["region"] == "EU" and sidecar["features"] == list(FEATURES) and sidecar["file_hash"]
    back = load(path)
    assert back.meta == m.meta.__class__(**{**sidecar, "features": tuple(sidecar["features"])})
    x = m.matrix([*windows[:10], window(99, 400)])
    np.testing.assert_allclose(back.score_batch(x), m.score_batch(x))
    scores = back.score_batch(x)
    assert scores[-1] > float(np.median(scores[:-1]))
    assert [meta.version for meta in list_models(tmp_path)] == ["v1"]
    assert set(latest_models(tmp_path)) == {"EU"}


def test_refuses_untrusted_types(tmp_path: Path, windows: list[ClosedWindow]) -> None:
    path = save(train(windows, "EU", version="v1"), tmp_path)
    # Swap in a file holding a type outside the allow-list, with a matching hash in the sidecar.
    sio.dump({"model": sklearn.preprocessing.FunctionTransformer(func=print)}, path)
    meta = json.loads(path.with_suffix(".json").read_text())
    import hashlib

    meta["file_hash"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(UntrustedModel, match="untrusted types"):
        load(path)


def test_refuses_a_file_that_does_not_match_its_sidecar(tmp_path: Path, windows: list[ClosedWindow]) -> None:
    path = save(train(windows, "EU", version="v1"), tmp_path)
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(UntrustedModel, match="hash"):
        load(path)


def test_scorer_reports_which_model_is_in_use(windows: list[ClosedWindow]) -> None:
    scorer = RegionScorer({"EU": train(windows, "EU", version="v1")})
    eu, uk = scorer.score([window(0, 21), window(0, 5, "UK")])
    assert eu.source == "isolation_forest:v1" and uk.source == "streaming"
    assert 0.0 < eu.score <= 1.0 and uk.score == 0.0  # the streaming fallback is still warming up
