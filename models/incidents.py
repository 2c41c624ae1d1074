"""The incident manager: closed windows in, incident candidates (open, update, resolve) out.  Pure.

Every (region, harm kind, cluster) seen in a window's ``series`` is a series
of per-window signal counts.  Each window, every tracked series of the region
gets its count (zero if absent) and two tests:

* a surge test: the count summed over the last 1..``sum_windows`` windows
  against the series' own baseline rate (an EWMA that does not learn from
  anomalous windows, floored at ``prior_rate`` so a brand-new cluster is
  judged against a small prior), as a Poisson tail ``-log10 p`` (the
  "surprise"), plus a minimum count, a minimum ratio to the baseline and a
  minimum number of distinct actors (sellers, buyers, creators);
* a clone of the streaming detector (:class:`RangeAwareDetector` by
  default, the one scored on NAB), which can confirm a smaller surge on a
  long-lived series once it is warm.

An anomalous series opens ONE incident per (region, harm kind, cluster), or
joins an open incident of the same region and harm kind that shares actors
with it or names the same product: a product key (recall, term, brand) that
co-occurred on the listings of both (the same product listed under another
language's name, or outside the country a recall covers, can be a cluster of
its own until the aliases link up).  Evidence grows with later windows
(``update``, at most one per window and only when the reach grew or something
new appeared); ``resolve`` after
``resolve_after`` quiet windows.  The same harm kind and cluster opening in a
second region links to the first: ``regions_affected`` grows on both and the
new one carries ``evidence["spread_from"]``.  Nothing opens in a region before
``warmup_windows`` windows of it were seen (baselines must exist first).

>>> from datetime import UTC, datetime, timedelta
>>> from riskstream.models.aggregates import ClosedWindow, SeriesWindow
>>> t0 = datetime(2026, 3, 2, tzinfo=UTC)
>>> def win(i, n):
...     s = SeriesWindow("product_safety", "brand:voltmax", n, {"safety_complaints/safety_complaint": n},
...         n, 2, n, 0, ("DE",), ("l1",), tuple(f"buyer:b{i}-{k}" for k in range(n)))
...     start = t0 + timedelta(minutes=10 * i)
...     return ClosedWindow("EU", start, start + timedelta(minutes=10), {}, (s,) if n else (), 10)
>>> mgr = IncidentManager()
>>> out = [c for i, n in enumerate([0] * 8 + [6, 7, 3] + [0] * 8) for c in mgr.process(win(i, n))]
>>> [(c.status, c.harm_kind, c.severity) for c in out]
[('open', 'product_safety', 'high'), ('update', 'product_safety', 'critical'), ('resolve', 'product_safety', 'critical')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal

from riskstream.contracts import IncidentCandidate, parse_time, stable_id
from riskstream.models.aggregates import ClosedWindow, SeriesWindow
from riskstream.models.region_model import RegionScore
from riskstream.models.timeseries import Threshold
from riskstream.models.ts_range import RangeAwareDetector, StreamDetector, detector_from_state

Severity = Literal["low", "medium", "high", "critical"]

HARM_WEIGHT: Final[dict[str, float]] = {
    "product_safety": 1.0, "illegal_goods": 1.0, "counterfeit": 0.7, "harmful_content": 0.6,
    "non_compliance": 0.4, "fake_reviews": 0.4,
}
"""Harm category's share of severity; product safety and illegal goods highest."""

FLOOR_SEVERITY: Final[dict[str, Severity]] = {"product_safety": "high", "illegal_goods": "high"}

def runbook_for(harm_kind: str) -> str:
    """The incident record's ``runbook``: the repository path of its harm kind's runbook.

    >>> runbook_for("product_safety")
    'runbooks/product_safety.md'
    """
    return f"runbooks/{harm_kind}.md"

UNKNOWN_CLUSTERS: Final[frozenset[str]] = frozenset({"category:content", "category:(unknown)"})

PRODUCT_KEY_KINDS: Final[frozenset[str]] = frozenset({"recall", "term", "brand"})
"""Cluster prefixes that name a product (see :mod:`riskstream.models.aggregates`); categories and sellers do not."""

HARM_FEATURES: Final[dict[str, tuple[str, ...]]] = {
    "illegal_goods": ("listings_new", "flagged_share", "enforced_removals", "new_seller_share"),
    "product_safety": ("reviews", "safety_complaints", "low_rating_share"),
    "counterfeit": ("listings_new", "new_seller_share", "price_dispersion", "deep_discount_share"),
    "non_compliance": ("listings_new", "flagged_share", "enforced_removals"),
    "fake_reviews": ("reviews", "review_velocity", "low_rating_share"),
    "harmful_content": ("content_posts", "restricted_promotions"),
}


@dataclass(frozen=True)
class IncidentConfig:
    """Thresholds; the defaults are the ones measured on the default simulation."""

    warmup_windows: int = 6
    baseline_alpha: float = 0.05
    prior_rate: float = 0.05
    probation_windows: int = 36
    sum_windows: int = 6
    min_signals: int = 4
    min_actors: int = 3
    min_ratio: float = 3.0
    open_surprise: float = 4.0
    sensitive_harms: tuple[str, ...] = ("product_safety", "illegal_goods")
    sensitive_min_signals: int = 3
    sensitive_surprise: float = 3.0
    ts_surprise: float = 2.0
    quiet_surprise: float = 1.3
    resolve_after: int = 6
    link_actors: int = 2
    link_products: bool = True
    max_products: int = 64
    update_growth: float = 0.25
    idle_evict_windows: int = 288
    max_samples: int = 10
    max_entities: int = 5000
    spread_horizon_s: int = 7 * 86400


@dataclass
class _Series:
    region: str
    harm: str
    cluster: str
    rate: float
    ts: StreamDetector
    recent: list[int] = field(default_factory=list)
    recent_actors: list[list[str]] = field(default_factory=list)
    recent_starts: list[str] = field(default_factory=list)
    born_warm: bool = True
    products: list[str] = field(default_factory=list)
    n: int = 0
    idle: int = 0
    incident: str | None = None

    @property
    def name(self) -> str:
        return f"{self.region}/{self.harm}/{self.cluster}"


@dataclass
class _Incident:
    incident_id: str
    region: str
    harm: str
    cluster: str
    onset: str
    status: Literal["open", "resolved"] = "open"
    series: list[str] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    listings: int = 0
    signals: int = 0
    actors: dict[str, list[str]] = field(default_factory=dict)
    countries: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    regions_affected: list[str] = field(default_factory=list)
    spread_from: str | None = None
    peak_surprise: float = 0.0
    peak_count: int = 0
    peak_ts: float = 0.0
    baseline_rate: float = 0.0
    quiet: int = 0
    windows: int = 0
    emitted_reach: int = 0
    emitted_severity: str = ""
    emitted_regions: int = 0
    emitted_series: int = 0
    last_end: str = ""
    features: dict[str, float] = field(default_factory=dict)
    region_model: dict[str, Any] = field(default_factory=dict)
    products: list[str] = field(default_factory=list)

    def reach(self) -> dict[str, int]:
        out = {"listings": self.listings, "signals": self.signals}
        for kind in ("seller", "buyer", "creator"):
            out[f"{kind}s"] = len(self.actors.get(kind, []))
        return out


def _product_keys(cluster: str, products: Iterable[str]) -> list[str]:
    """The product keys of a series window: its listed ``products``, else its cluster if that is a product."""
    keys = list(products)
    if not keys and cluster.split(":", 1)[0] in PRODUCT_KEY_KINDS:
        keys.append(cluster)
    return keys


def _merge(into: list[str], keys: Iterable[str], cap: int) -> None:
    for k in keys:
        if len(into) >= cap:
            return
        if k not in into:
            into.append(k)


def poisson_surprise(k: int, mu: float) -> float:
    """``-log10 P(X >= k)`` for ``X ~ Poisson(mu)``; 0 when ``k <= mu``.

    >>> round(poisson_surprise(5, 0.3), 2), poisson_surprise(1, 2.0)
    (4.8, 0.0)
    """
    if k <= mu or k <= 0:
        return 0.0
    lmu = math.log(mu)
    terms = [-mu + i * lmu - math.lgamma(i + 1) for i in range(k, k + 200)]
    top = max(terms)
    log_sf = top + math.log(sum(math.exp(t - top) for t in terms))
    return max(0.0, -log_sf / math.log(10))


class IncidentManager:
    """Turns closed windows into incident candidates; see the module docstring."""

    def __init__(self, config: IncidentConfig | None = None,
                 detector: StreamDetector | None = None, threshold: Threshold | None = None) -> None:
        self.config = config or IncidentConfig()
        self.prototype: StreamDetector = detector or RangeAwareDetector()
        self.threshold = threshold or Threshold(0.5)
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._incidents: dict[str, _Incident] = {}
        self._windows_seen: dict[str, int] = {}

    # ------------------------------------------------------------ public

    def process(self, window: ClosedWindow, region_score: RegionScore | None = None) -> list[IncidentCandidate]:
        """Account one closed window of one region; return the incident records it produced."""
        cfg = self.config
        region = window.region
        seen = self._windows_seen.get(region, 0) + 1
        self._windows_seen[region] = seen
        warm = seen > cfg.warmup_windows
        present = {(region, s.harm_kind, s.cluster): s for s in window.series}
        for key in present:
            if key not in self._series:
                self._series[key] = _Series(region, key[1], key[2], cfg.prior_rate, self.prototype.clone(),
                                            born_warm=warm)
        out: list[IncidentCandidate] = []
        touched: dict[str, bool] = {}  # incident id -> anomalous this window
        for key, series in sorted((k, s) for k, s in self._series.items() if k[0] == region):
            sw = present.get(key)
            anomalous, surprise, ts_score = self._step(series, sw, window, warm)
            inc = self._incidents.get(series.incident) if series.incident else None
            if inc is not None and inc.status != "open":
                series.incident, inc = None, None
            if anomalous and inc is None and sw is not None:
                inc, opened = self._attach(series, sw, window, out)
                if opened:
                    touched.setdefault(inc.incident_id, True)
            if inc is not None:
                if sw is not None:
                    self._absorb(inc, sw)
                inc.peak_surprise = max(inc.peak_surprise, surprise)
                inc.peak_ts = max(inc.peak_ts, ts_score)
                if sw is not None:
                    inc.peak_count = max(inc.peak_count, sw.count)
                busy = anomalous or (sw is not None and surprise >= cfg.quiet_surprise)
                touched[inc.incident_id] = touched.get(inc.incident_id, False) or busy
        for inc_id, busy in sorted(touched.items()):
            inc = self._incidents[inc_id]
            inc.windows += 1
            inc.last_end = window.end.isoformat()
            self._note_window(inc, window, region_score)
            inc.quiet = 0 if busy else inc.quiet + 1
        for inc in sorted(self._incidents.values(), key=lambda i: i.incident_id):
            if inc.region != region or inc.status != "open":
                continue
            if inc.incident_id not in touched:
                inc.quiet += 1
            if any(c.incident_id == inc.incident_id and c.status == "open" for c in out):
                continue
            if inc.quiet >= cfg.resolve_after:
                inc.status = "resolved"
                out.append(self._record(inc, "resolve", window))
            elif self._grew(inc):
                out.append(self._record(inc, "update", window))
        self._evict(region)
        return out

    def open_incidents(self) -> list[str]:
        return sorted(i for i, inc in self._incidents.items() if inc.status == "open")

    # ------------------------------------------------------------ per series

    def _step(self, s: _Series, sw: SeriesWindow | None, window: ClosedWindow, warm: bool
              ) -> tuple[bool, float, float]:
        cfg = self.config
        x = sw.count if sw is not None else 0
        s.recent = [*s.recent, x][-cfg.sum_windows:]
        s.recent_actors = [*s.recent_actors, list(sw.actors) if sw else []][-cfg.sum_windows:]
        s.recent_starts = [*s.recent_starts, window.start.isoformat()][-cfg.sum_windows:]
        if sw is not None:
            _merge(s.products, _product_keys(s.cluster, sw.products), cfg.max_products)
        rate = max(s.rate, cfg.prior_rate)
        sensitive = s.harm in cfg.sensitive_harms
        min_signals = cfg.sensitive_min_signals if sensitive else cfg.min_signals
        open_surprise = cfg.sensitive_surprise if sensitive else cfg.open_surprise
        surprise, best_sum = 0.0, 0
        for k in range(1, len(s.recent) + 1):
            total = sum(s.recent[-k:])
            if total >= min_signals and total >= cfg.min_ratio * rate * k:
                sp = poisson_surprise(total, rate * k)
                if sp > surprise:
                    surprise, best_sum = sp, total
        ts_score = s.ts.score_one(window.end, float(x))
        s.ts.learn_one(window.end, float(x))
        actors = len({a for lst in s.recent_actors for a in lst})
        anomalous = (warm and x > 0 and best_sum >= min_signals and actors >= cfg.min_actors
                     and (surprise >= open_surprise
                          or (self.threshold(ts_score) and surprise >= cfg.ts_surprise)))
        s.n += 1
        # Series born while the region warms up learn their level fast.  A series born later is new
        # activity: it is judged against the prior for a probation period, so a slow ramp cannot
        # teach the baseline its own surge.
        if not anomalous and (not s.born_warm or s.n > cfg.probation_windows):
            alpha = cfg.baseline_alpha if s.born_warm else max(cfg.baseline_alpha, 1.0 / s.n)
            s.rate += alpha * (x - s.rate)
        s.idle = 0 if x else s.idle + 1
        return anomalous, surprise, ts_score

    def _attach(self, s: _Series, sw: SeriesWindow, window: ClosedWindow, out: list[IncidentCandidate]
                ) -> tuple[_Incident, bool]:
        """Join an open incident of the same key or sharing actors, else open one."""
        cfg = self.config
        mine = {a for lst in s.recent_actors for a in lst}
        products = set(s.products) if cfg.link_products else set()
        for inc in sorted(self._incidents.values(), key=lambda i: i.incident_id):
            if inc.status != "open" or inc.region != s.region or inc.harm != s.harm:
                continue
            shared = len(mine & {f"{k}:{a}" for k, ids in inc.actors.items() for a in ids})
            # The same product under another name: a product key seen on the listings of both.
            same_product = not products.isdisjoint(inc.products)
            # An open incident whose product is unknown (content without a listing, reviews of a listing
            # never seen) takes the first identified product of the same harm; a category joins on any
            # shared actor.
            unknown = inc.cluster in UNKNOWN_CLUSTERS
            weak = inc.cluster.startswith("category:") or s.cluster.startswith("category:")
            if (inc.cluster == s.cluster or unknown or same_product or shared >= cfg.link_actors
                    or (weak and shared >= 1)):
                s.incident = inc.incident_id
                if s.name not in inc.series:
                    inc.series.append(s.name)
                _merge(inc.products, s.products, cfg.max_products)
                return inc, False
        onset = next((t for t, n in zip(s.recent_starts, s.recent, strict=True) if n > 0), window.start.isoformat())
        inc_id = stable_id("incident", s.region, s.harm, s.cluster, onset)
        inc = _Incident(inc_id, s.region, s.harm, s.cluster, onset, series=[s.name],
                        regions_affected=[s.region], baseline_rate=round(s.rate, 4), products=list(s.products))
        # The same harm on the same cluster elsewhere: link, and let the first one know.
        horizon = window.end.timestamp() - cfg.spread_horizon_s
        for other in sorted(self._incidents.values(), key=lambda i: i.onset):
            if (other.harm == s.harm and other.cluster == s.cluster and other.region != s.region
                    and (other.status == "open" or parse_time(other.last_end or other.onset).timestamp() >= horizon)):
                inc.spread_from = inc.spread_from or other.incident_id
                regions = sorted({*other.regions_affected, s.region})
                inc.regions_affected = sorted({*inc.regions_affected, *regions})
                other.regions_affected = sorted({*other.regions_affected, s.region})
                if other.status == "open":
                    out.append(self._record(other, "update", window))
        self._incidents[inc_id] = inc
        s.incident = inc_id
        self._absorb(inc, sw)
        inc.peak_count = sw.count
        out.append(self._record(inc, "open", window))
        return inc, True

    def _absorb(self, inc: _Incident, sw: SeriesWindow) -> None:
        cfg = self.config
        inc.signals += sw.count
        inc.listings += sw.listings
        for code, n in sw.codes.items():
            inc.codes[code] = inc.codes.get(code, 0) + n
        for a in sw.actors:
            kind, _, ident = a.partition(":")
            ids = inc.actors.setdefault(kind, [])
            if ident not in ids and len(ids) < cfg.max_entities:
                ids.append(ident)
        inc.countries = sorted({*inc.countries, *sw.countries})
        _merge(inc.products, _product_keys(sw.cluster, sw.products), cfg.max_products)
        for e in sw.sample_ids:
            if e not in inc.samples and len(inc.samples) < cfg.max_samples:
                inc.samples.append(e)

    def _note_window(self, inc: _Incident, window: ClosedWindow, rs: RegionScore | None) -> None:
        f = window.features
        inc.features = {k: round(f[k], 4) for k in HARM_FEATURES.get(inc.harm, ())}
        if rs is not None:
            inc.region_model = {"source": rs.source, "score": round(rs.score, 4), "anomalous": rs.anomalous}

    # ------------------------------------------------------------ records

    def _score(self, inc: _Incident) -> float:
        reach = sum(v for k, v in inc.reach().items() if k != "signals")
        magnitude = min(1.0, inc.peak_surprise / 12.0)
        breadth = min(1.0, math.log10(1 + reach) / 2.5)
        spread = 0.1 if len(inc.regions_affected) > 1 else 0.0
        return round(min(1.0, 0.5 * HARM_WEIGHT.get(inc.harm, 0.5) + 0.25 * breadth + 0.25 * magnitude + spread), 4)

    def _severity(self, inc: _Incident) -> Severity:
        score = self._score(inc)
        sev: Severity = "critical" if score >= 0.85 else "high" if score >= 0.65 else (
            "medium" if score >= 0.45 else "low")
        floor = FLOOR_SEVERITY.get(inc.harm)
        order = ("low", "medium", "high", "critical")
        return floor if floor and order.index(floor) > order.index(sev) else sev

    def _grew(self, inc: _Incident) -> bool:
        reach = sum(inc.reach().values())
        return (reach >= inc.emitted_reach * (1 + self.config.update_growth) + 1
                or self._severity(inc) != inc.emitted_severity
                or len(inc.regions_affected) != inc.emitted_regions or len(inc.series) != inc.emitted_series)

    def _record(self, inc: _Incident, status: Literal["open", "update", "resolve"], window: ClosedWindow
                ) -> IncidentCandidate:
        severity = self._severity(inc)
        inc.emitted_reach = sum(inc.reach().values())
        inc.emitted_severity = severity
        inc.emitted_regions = len(inc.regions_affected)
        inc.emitted_series = len(inc.series)
        evidence: dict[str, Any] = {
            "codes": dict(sorted(inc.codes.items())),
            "peak_surprise": round(inc.peak_surprise, 2),
            "peak_count": inc.peak_count,
            "peak_ts_score": round(inc.peak_ts, 4),
            "baseline_rate": inc.baseline_rate,
            "countries": inc.countries,
            "windows": inc.windows,
            "window": [window.start.isoformat(), window.end.isoformat()],
            "features": inc.features or {k: round(window.features[k], 4)
                                         for k in HARM_FEATURES.get(inc.harm, ())},
        }
        if inc.spread_from:
            evidence["spread_from"] = inc.spread_from
        if inc.region_model:
            evidence["region_model"] = inc.region_model
        detectors = sorted({c.split("/")[0] for c in inc.codes})
        return IncidentCandidate(
            incident_id=inc.incident_id, status=status,
            event_id=stable_id(inc.incident_id, status, window.end.isoformat()), event_time=window.end,
            region=inc.region, harm_kind=inc.harm, cluster=inc.cluster, severity=severity,
            onset_time=parse_time(inc.onset), score=self._score(inc), regions_affected=list(inc.regions_affected),
            series=list(inc.series), sample_entity_ids=list(inc.samples), detectors=detectors, reach=inc.reach(),
            evidence=evidence, runbook=runbook_for(inc.harm),
        )

    # ------------------------------------------------------------ housekeeping and state

    def _evict(self, region: str) -> None:
        limit = self.config.idle_evict_windows
        for key in [k for k, s in self._series.items()
                    if k[0] == region and s.idle >= limit and s.incident is None]:
            del self._series[key]
        for inc_id in [i for i, inc in self._incidents.items() if inc.status == "resolved"
                       and inc.region == region and inc.quiet >= limit]:
            del self._incidents[inc_id]

    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot.

        The :class:`IncidentConfig` is not included (the caller passes it to :meth:`from_state`), but
        the detector prototype (its configuration: new series clone it) and the threshold are, so a
        restored manager behaves identically.
        """
        return {
            "prototype": self.prototype.clone().state_dict(),
            "threshold": asdict(self.threshold),
            "windows_seen": dict(self._windows_seen),
            "series": [{**{k: v for k, v in asdict(replace(s, ts=RangeAwareDetector())).items() if k != "ts"},
                        "ts": s.ts.state_dict()} for s in self._series.values()],
            "incidents": [asdict(i) for i in self._incidents.values()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: IncidentConfig | None = None, *,
                   detector: StreamDetector | None = None, threshold: Threshold | None = None
                   ) -> IncidentManager:
        """Rebuild a manager from :meth:`state_dict` output.

        ``detector`` and ``threshold`` override the prototype and threshold the state recorded (a state
        written before they were recorded falls back to the defaults).
        """
        if detector is None and "prototype" in state:
            detector = detector_from_state(state["prototype"]).clone()
        if threshold is None and "threshold" in state:
            threshold = Threshold(**state["threshold"])
        mgr = cls(config, detector=detector, threshold=threshold)
        mgr._windows_seen = {k: int(v) for k, v in state["windows_seen"].items()}
        for obj in state["series"]:
            fields = {k: v for k, v in obj.items() if k != "ts"}
            s = _Series(**fields, ts=detector_from_state(obj["ts"]))
            mgr._series[(s.region, s.harm, s.cluster)] = s
        for obj in state["incidents"]:
            inc = _Incident(**obj)
            mgr._incidents[inc.incident_id] = inc
        return mgr


def process_all(manager: IncidentManager, windows: Iterable[ClosedWindow]) -> list[IncidentCandidate]:
    """Feed windows in order; all records produced."""
    return [c for w in windows for c in manager.process(w)]
