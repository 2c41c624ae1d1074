"""The detector contract and the explicit registry.

A detector is a small typed unit: it is built from its own frozen `Params`
(taken from a region's policy file), it declares which event kinds it reads
and how its state is keyed, and its `detect` is a pure function
``(event, state) -> (state, signals)``.  Nothing here imports Kafka, Faust or
Prometheus, so every detector is testable in microseconds.

>>> from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector
>>> reg = Registry.with_detectors(ProhibitedTermsDetector)
>>> reg.names()
['prohibited_terms']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

from riskstream.contracts import EntityType, Event, EventKind, ListingEvent, Signal

P = TypeVar("P", covariant=True)
S = TypeVar("S")


class Detector(Protocol[P, S]):
    """What every detector provides.

    * ``id``: stable name; also its metric label and its key in policy files.
    * ``kinds``: the event kinds it reads (``"listing"``, ``"review"``, ...).
    * ``Params``: a frozen dataclass of its parameters, every field defaulted.
    * ``state_key(event)``: the key its state is partitioned by, or None when
      it keeps no state for this event.
    * ``initial_state()``: a fresh state for a new key.
    * ``detect(event, state)``: pure; returns the new state and the signals.
    * ``local_state`` (optional ClassVar, default False): the state is kept whole
      in each worker instead of in the partitioned ``detector-state`` table
      (broadcast-fed state, or a hot key whose record is too large to rewrite
      per event).
    * ``decided_alone`` (optional ClassVar, default False): its signals are
      decided in a lane of their own, by the policy's rule for their code
      alone, apart from the event's other signals, and the action's
      idempotency key names the detector and the entity, not the event
      (`riskstream.decisions.decide`).  For a detector whose signal on an
      entity comes with whichever event completes what it looks for, which
      is arrival order (a wave back-filling its earlier listings): its
      actions then do not depend on that order.

    Optional, for an index spread over several keys per event (LSH band buckets,
    `riskstream.detectors.lsh`): a detector that has ``state_keys`` is *banded*.

    * ``state_keys(event)``: the keys (buckets) this event reads and writes, each
      owned by its own partition; empty when it keeps no state for this event.
    * ``detect_key(event, key, state)``: pure, on one bucket's state (None: a new
      bucket); returns the new bucket state and *partial* signals (code
      `PARTIAL`), which are never decided on.
    * ``combine(event, partials)``: the event's real signals from the partials of
      all its buckets (the engine calls it once, when every bucket was visited),
      so one near-duplicate found in several buckets gives one signal.

    A banded detector keeps ``state_key``/``detect`` as its whole-index form (the
    country's buckets in one bounded state, `run_buckets`) for tests and tools;
    the engine only uses the three above.
    """

    id: ClassVar[str]
    kinds: ClassVar[frozenset[EventKind]]
    Params: ClassVar[type[Any]]

    def __init__(self, params: P) -> None: ...

    def state_key(self, event: Event) -> str | None: ...

    def initial_state(self) -> S: ...

    def detect(self, event: Event, state: S) -> tuple[S, list[Signal]]: ...


DetectorType = type[Detector[Any, Any]]

PARTIAL: Final = "_partial"
"""The code of a banded detector's partial signal: what one bucket found, for `combine` only."""


def is_banded(detector: Any) -> bool:
    """Whether `detector` spreads its state over several keys per event (see `Detector`)."""
    return callable(getattr(detector, "state_keys", None))


def partial(detector_id: str, event: Event, *, entity_type: EntityType, entity_id: str,
            evidence: dict[str, Any]) -> Signal:
    """A partial signal (code `PARTIAL`, score 0): what one bucket found about `event`."""
    return signal(detector_id, event, code=PARTIAL, entity_type=entity_type, entity_id=entity_id, score=0.0,
                  evidence=evidence)


def run_buckets(detector: Any, event: Event, state: dict[str, Any] | None,
                max_buckets: int) -> tuple[dict[str, Any], list[Signal]]:
    """A banded detector's whole-index `detect`: its buckets in one state, as the engine runs them.

    `state` is ``{"buckets": {key: bucket state}}``, least recently used first; at most
    `max_buckets` are kept (the engine bounds its keys the same way).  Pure.
    """
    buckets = dict((state or {}).get("buckets", {}))
    partials: list[Signal] = []
    for key in detector.state_keys(event):
        bucket, found = detector.detect_key(event, key, buckets.pop(key, None))
        buckets[key] = bucket
        partials.extend(found)
    for key in list(buckets)[:max(0, len(buckets) - max_buckets)]:
        del buckets[key]
    return {"buckets": buckets}, (detector.combine(event, partials) if partials else [])


def signal(
    detector_id: str,
    event: Event,
    *,
    code: str,
    entity_type: EntityType,
    entity_id: str,
    score: float,
    evidence: dict[str, Any],
) -> Signal:
    """A `Signal` from `detector_id` about one entity, placed at `event` (its region, id and time).

    >>> from riskstream.contracts import RecallNotice, parse_time
    >>> ev = RecallNotice(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
    ...     region="ES", recall_id="R-1", product_terms=["baby rocker"])
    >>> s = signal("recall_match", ev, code="recalled_product", entity_type="listing",
    ...     entity_id="l1", score=0.8, evidence={"recall_id": "R-1"})
    >>> (s.detector, s.code, s.entity_id, s.region, s.event_id, s.event_time.isoformat())
    ('recall_match', 'recalled_product', 'l1', 'ES', 'e1', '2026-01-01T00:00:00+00:00')
    """
    return Signal(
        detector=detector_id,
        code=code,
        entity_type=entity_type,
        entity_id=entity_id,
        region=event.region,
        score=score,
        event_id=event.event_id,
        event_time=event.event_time,
        evidence=evidence,
    )


def listing_signal(detector_id: str, event: ListingEvent, code: str, score: float,
                   evidence: dict[str, Any]) -> Signal:
    """A `signal` about the listing of a listing event (the common case of the listing detectors)."""
    return signal(detector_id, event, code=code, entity_type="listing", entity_id=event.listing_id,
                  score=score, evidence=evidence)


@dataclass(frozen=True)
class Registry:
    """An explicit, immutable name -> detector-class mapping (no discovery)."""

    detectors: dict[str, DetectorType]

    @classmethod
    def with_detectors(cls, *types: DetectorType) -> Registry:
        out: dict[str, DetectorType] = {}
        for t in types:
            if t.id in out:
                raise ValueError(f"detector id {t.id!r} registered twice")
            out[t.id] = t
        return cls(out)

    def names(self) -> list[str]:
        return sorted(self.detectors)

    def decided_alone(self) -> frozenset[str]:
        """The ids of the detectors whose signals are decided in a lane of their own (``decided_alone``)."""
        return frozenset(name for name, t in self.detectors.items() if getattr(t, "decided_alone", False))

    def get(self, name: str) -> DetectorType:
        try:
            return self.detectors[name]
        except KeyError:
            raise KeyError(f"unknown detector {name!r}; known: {', '.join(self.names())}") from None


class Stateless(Generic[P]):
    """Mixin for detectors that keep no state."""

    def state_key(self, event: Event) -> str | None:
        return None

    def initial_state(self) -> None:
        return None
