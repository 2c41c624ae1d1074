"""Two-phase region windows: per-source partials, merged per region, each window closed once.

Phase 1 runs where events are decided (one *source* per partition of
``risk.decide.v1``): :func:`fact_of` reduces a decided event to a compact,
JSON-able *fact* (the fields the aggregates read, the signals that count, its
enforced removals) and :class:`SourceClock` keeps the source's watermark.
Facts travel in micro-batched *partials* ``{"src", "wm", "idle", "facts"}``
keyed by region.

Phase 2 runs on the region's owner: :class:`RegionWindows` merges partials
into the region's pending windows, keyed by (window start, event id), so a
partial delivered twice, or split and ordered any way, gives the same window,
and closes a window once, when every source's watermark is past its end plus
the allowed lateness (and a short wall-clock hold has passed, for events still
in a hop).  A closed window's facts are accounted in (event time, event id)
order by the region's :class:`~riskstream.models.aggregates.Aggregator` (its
listing memory, product aliases and price baselines move on window by window),
so the window does not depend on arrival order, worker count or restarts.

Which signals count: every detector signal ("what we saw") and every rule hit
of an enforced rule; hits of shadow rules (``rule:<id>`` under trial) do not.
Only enforced ``remove`` / ``hold`` actions count as removals.

>>> from riskstream.contracts import ListingEvent, parse_time
>>> def listing(i, minute):
...     return ListingEvent(event_id=f"e{i}", event_time=parse_time(f"2026-03-02T00:{minute:02d}:00Z"),
...         region="DE", op="created", listing_id=f"l{i}", seller_id="s1", category="toys",
...         title="Wooden train", price=20.0, currency="EUR")
>>> rw = RegionWindows("EU", MergeConfig(sources=2, allowed_lateness_s=0, hold_s=0))
>>> rw.merge({"src": 0, "wm": 60.0 + 1772409600.0, "facts": [fact_of(listing(1, 1), [], [])]})
0
>>> rw.close(now=0.0)  # source 1 has not reported: nothing closes
[]
>>> rw.merge({"src": 1, "wm": 720.0 + 1772409600.0, "facts": [fact_of(listing(2, 12), [], [])]})
0
>>> rw.merge({"src": 0, "wm": 720.0 + 1772409600.0, "facts": []})
0
>>> [(w.region, w.start.minute, w.events) for w in rw.close(now=0.0)]
[('EU', 0, 1)]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from riskstream.contracts import (
    EVENT_TYPES,
    ContentEvent,
    EnforcementAction,
    Event,
    ListingEvent,
    ReviewEvent,
    Signal,
    encode,
    from_obj,
)
from riskstream.models.aggregates import Aggregator, AggregatorConfig, ClosedWindow, enforced_removals
from riskstream.regions import region_of

_COUNTED: Final = frozenset({"listing", "review", "content"})  # the kinds decided on risk.decide.v1
_EVIDENCE_KEYS: Final = ("recall_id", "matched_terms", "terms")  # what the aggregates read of evidence



@dataclass(frozen=True, slots=True)
class MergeConfig:
    """Windows, lateness and the close rule of the region merge."""

    window_s: int = 600
    allowed_lateness_s: int = 120
    sources: int = 1
    """Source partitions that report (``risk.decide.v1``'s partition count)."""
    hold_s: float = 3.0
    """Wall-clock seconds a window waits after the watermark passed it (events still in a hop)."""


def fact_of(event: Event, signals: Sequence[Signal], actions: Iterable[EnforcementAction],
            ignored: Collection[str] = ()) -> dict[str, Any]:
    """A decided event reduced to what the aggregates read; ``ignored`` detectors' signals left out.

    Texts, attributes and image hashes are dropped (the aggregates never read them); signals keep
    the evidence keys that name products.
    """
    if isinstance(event, ListingEvent):
        slim: Event = dataclasses.replace(event, title="", description="", attributes={}, certifications=[],
                                          image_hashes=[])
    elif isinstance(event, ReviewEvent | ContentEvent):
        slim = dataclasses.replace(event, text="")
    else:
        slim = event
    sigs = [orjson.loads(encode(dataclasses.replace(
        s, evidence={k: s.evidence[k] for k in _EVIDENCE_KEYS if k in s.evidence})))
        for s in signals if s.detector not in ignored]
    return {"id": event.event_id, "t": event.event_time.timestamp(), "k": event.kind,
            "e": orjson.loads(encode(slim)), "s": sigs, "r": enforced_removals(actions)}


def region_of_fact(fact: dict[str, Any]) -> str | None:
    return region_of(fact["e"]["region"])


class SourceClock:
    """Phase 1's watermark of one source: the lowest "latest event time" over its active event kinds.

    Listings, reviews and content reach a decide partition through different hops at different
    speeds (a replay runs one kind hours of event time ahead of another), so the watermark is the
    smallest latest time over the kinds seen within ``idle_s`` of wall time; a source that saw
    nothing for ``idle_s`` is idle (the merge stops waiting for it).

    >>> c = SourceClock(idle_s=30)
    >>> c.see("listing", 500.0, now=0); c.see("review", 100.0, now=0)
    >>> c.watermark(now=1), c.idle(now=1)
    (100.0, False)
    >>> c.watermark(now=40), c.idle(now=40)
    (500.0, True)
    """

    def __init__(self, idle_s: float = 30.0) -> None:
        self.idle_s = idle_s
        self._latest: dict[str, tuple[float, float]] = {}  # kind -> (max event time, wall time seen)
        self._last = -math.inf

    def see(self, kind: str, ts: float, now: float) -> None:
        prev = self._latest.get(kind)
        self._latest[kind] = (max(ts, prev[0]) if prev else ts, now)
        self._last = now

    def touch(self, now: float) -> None:
        """Count as active now (a partition just taken over is not idle before ``idle_s`` has passed)."""
        self._last = max(self._last, now)

    def watermark(self, now: float) -> float | None:
        if not self._latest:
            return None
        active = [t for t, seen in self._latest.values() if now - seen <= self.idle_s]
        return min(active) if active else max(t for t, _ in self._latest.values())

    def idle(self, now: float) -> bool:
        return now - self._last > self.idle_s


class RegionWindows:
    """Phase 2 for one region: merged pending windows, source watermarks, the region's aggregates."""

    def __init__(self, region: str, config: MergeConfig | None = None,
                 aggregator: AggregatorConfig | None = None) -> None:
        self.region = region
        self.config = config or MergeConfig()
        self.aggregator = Aggregator(aggregator or AggregatorConfig(window_minutes=self.config.window_s // 60))
        self.pending: dict[int, dict[str, dict[str, Any]]] = {}  # window start -> event id -> fact
        self.sources: dict[int, tuple[float, bool]] = {}  # source -> (watermark, idle)
        self.closed_through = -math.inf  # end of the last window closed
        self.eligible: dict[int, float] = {}  # window start -> wall time its watermark passed
        self.late = 0  # facts for windows already closed (replays included), reported on the next window

    @property
    def window_s(self) -> int:
        return self.config.window_s

    def merge(self, partial: dict[str, Any]) -> int:
        """Fold one partial in; returns how many of its facts came after their window closed."""
        late = 0
        w = self.window_s
        for fact in partial.get("facts", ()):
            start = int(fact["t"] // w) * w
            if start + w <= self.closed_through:
                late += 1
                continue
            self.pending.setdefault(start, {})[fact["id"]] = fact  # a replayed fact replaces itself
        src = int(partial["src"])
        wm = partial.get("wm")
        prev = self.sources.get(src)
        mark = max(wm if wm is not None else -math.inf, prev[0] if prev else -math.inf)
        self.sources[src] = (mark, bool(partial.get("idle", False)))
        self.late += late
        return late

    def low_watermark(self) -> float:
        """The lowest watermark over the sources that are not idle; +inf when all are, -inf if one never reported."""
        if len(self.sources) < self.config.sources:
            return -math.inf
        active = [wm for wm, idle in self.sources.values() if not idle]
        return min(active) if active else math.inf

    def closable(self, now: float) -> list[int]:
        """The starts of the windows :meth:`close` would close now, oldest first (their facts are then
        loaded with :meth:`fill`: the stream layer keeps a window's facts apart from the header)."""
        cfg, w = self.config, self.window_s
        low = self._mark(now)
        out: list[int] = []
        for start in sorted(self.pending):
            if start + w + cfg.allowed_lateness_s > low:
                break
            if math.isfinite(low) and now - self.eligible[start] < cfg.hold_s:
                break
            out.append(start)
        return out

    def fill(self, start: int, facts: Iterable[dict[str, Any]]) -> None:
        """Add facts stored earlier to a pending window (a fact merged since, same event id, is kept)."""
        merged = {f["id"]: f for f in facts}
        merged.update(self.pending.get(start, {}))
        self.pending[start] = merged

    def ready(self, now: float) -> bool:
        """Whether :meth:`close` would close a window now (the caller loads the aggregate memory only then)."""
        if not self.pending:
            return False
        low = self._mark(now)
        start = min(self.pending)
        if start + self.window_s + self.config.allowed_lateness_s > low:
            return False
        return not math.isfinite(low) or now - self.eligible[start] >= self.config.hold_s

    def _mark(self, now: float) -> float:
        """Note when each pending window's watermark first passed (its hold starts then); the low watermark."""
        low = self.low_watermark()
        for start in self.pending:
            if start + self.window_s + self.config.allowed_lateness_s <= low:
                self.eligible.setdefault(start, now)
        return low

    def close(self, now: float) -> list[ClosedWindow]:
        """The windows now complete, oldest first, each exactly once."""
        w = self.window_s
        out: list[ClosedWindow] = []
        for start in self.closable(now):
            facts = self.pending.pop(start)
            self.eligible.pop(start, None)
            self.closed_through = max(self.closed_through, start + w)
            items = [_decode(f) for f in sorted(facts.values(), key=lambda f: (f["t"], f["id"]))]
            out.append(self.aggregator.account_window(self.region, start, items, self.late))
            self.late = 0
        return out

    def flush(self) -> list[ClosedWindow]:
        """Close every pending window (end of a bounded stream)."""
        for src in range(self.config.sources):
            self.sources[src] = (math.inf, True)
        return self.close(now=math.inf)

    # ------------------------------------------------------------ state

    def window_state(self) -> dict[str, Any]:
        """The pending windows and watermarks (changes with every partial)."""
        return {
            "pending": [[s, list(f.values())] for s, f in self.pending.items()],
            "sources": [[s, _num(wm), idle] for s, (wm, idle) in self.sources.items()],
            "closed_through": _num(self.closed_through),
            "eligible": [[s, t] for s, t in self.eligible.items()],
            "late": self.late,
        }

    def header_state(self) -> dict[str, Any]:
        """:meth:`window_state` without the facts: which windows are open, and the watermarks.

        The stream layer stores each batch's facts per window under keys of their own and reads a
        window's facts back only when it closes, so a batch costs what it merges, not what is open.
        """
        state = self.window_state()
        del state["pending"]
        state["open"] = sorted(self.pending)
        return state

    def context_state(self) -> dict[str, Any]:
        """The region's aggregate memory (changes only when a window closes)."""
        return self.aggregator.state_dict()

    @classmethod
    def from_state(cls, region: str, windows: dict[str, Any] | None, context: dict[str, Any] | None,
                   config: MergeConfig | None = None, aggregator: AggregatorConfig | None = None) -> RegionWindows:
        rw = cls(region, config, aggregator)
        if context is not None:
            rw.aggregator = Aggregator.from_state(context, rw.aggregator.config)
        if windows is not None:
            if "pending" in windows:
                rw.pending = {int(s): {f["id"]: f for f in facts} for s, facts in windows["pending"]}
            else:  # a header: the windows are open, their facts are stored apart (see `fill`)
                rw.pending = {int(s): {} for s in windows["open"]}
            rw.sources = {int(s): (_unnum(wm), bool(idle)) for s, wm, idle in windows["sources"]}
            rw.closed_through = _unnum(windows["closed_through"])
            rw.eligible = {int(s): float(t) for s, t in windows["eligible"]}  # wall-clock times (time.time())
            rw.late = int(windows["late"])
        return rw


def _decode(fact: dict[str, Any]) -> tuple[Event, list[Signal], int]:
    event = from_obj(fact["e"], EVENT_TYPES[fact["k"]])
    return event, [from_obj(s, Signal) for s in fact["s"]], int(fact["r"])


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _unnum(x: float | str | None) -> float:
    if x is None:
        return -math.inf
    return float(x)


class InProcessWindows:
    """Both phases in one process, one source: what the evaluation harness runs.

    Events arrive in event-time order (the simulator's stream), so the watermark is the largest
    event time seen; windows close exactly as the stream's region merge closes them.
    """

    def __init__(self, config: MergeConfig | None = None, aggregator: AggregatorConfig | None = None,
                 ignored: Collection[str] = (), *, ignored_for: Callable[[str], Collection[str]] | None = None
                 ) -> None:
        self.config = dataclasses.replace(config or MergeConfig(), sources=1, hold_s=0.0)
        self.aggregator_config = aggregator
        self.ignored = ignored
        self.ignored_for = ignored_for  # region -> detectors whose signals are left out (shadow rules)
        self.regions: dict[str, RegionWindows] = {}
        self._max_ts = -math.inf

    def _region(self, region: str) -> RegionWindows:
        rw = self.regions.get(region)
        if rw is None:
            rw = self.regions[region] = RegionWindows(region, self.config, self.aggregator_config)
        return rw

    def add(self, event: Event, signals: Sequence[Signal] = (), actions: Iterable[EnforcementAction] = ()
            ) -> list[ClosedWindow]:
        region = region_of(event.region)
        # Recalls are broadcast to every worker, not decided on a partition: the stream never counts them.
        if region is None or event.kind not in _COUNTED:
            return []
        ignored = self.ignored_for(region) if self.ignored_for is not None else self.ignored
        self._max_ts = max(self._max_ts, event.event_time.timestamp())
        self._region(region).merge({"src": 0, "wm": self._max_ts,
                                    "facts": [fact_of(event, signals, actions, ignored)]})
        out: list[ClosedWindow] = []
        for name in sorted(self.regions):
            rw = self.regions[name]
            rw.merge({"src": 0, "wm": self._max_ts, "facts": []})
            out.extend(rw.close(now=0.0))
        return sorted(out, key=lambda w: (w.end, w.region))

    def flush(self) -> list[ClosedWindow]:
        out = [w for name in sorted(self.regions) for w in self.regions[name].flush()]
        return sorted(out, key=lambda w: (w.end, w.region))
