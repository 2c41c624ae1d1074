"""A new seller creating many listings in a short time: the shape of a scam or fake-shop launch.

Windows are in event time, so a replay or a lagging consumer sees the same
bursts as live traffic.  Only ``created`` listings count.

Memory per seller is constant: the state holds at most ``max_listings + 1``
(time, listing id) pairs, the most recent by event time, which is enough to
tell whether more than ``max_listings`` fall in a window.  So the evidence's
``listings_in_window`` is capped at ``max_listings + 1`` (read it as "at
least"); ``listings_as_new_seller`` is the uncapped running total.  A listing
id already held is not counted twice, so at-least-once redelivery does not
make a burst.  A listing late in event time counts towards the fullest window
that holds it, which may end at a later listing; one older than all those
held is too late to count.

After a signal the seller gets no other for ``cooldown_minutes`` of event
time, so a burst of 200 listings gives one signal, not 180.

>>> from datetime import timedelta
>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = NewSellerBurstDetector(NewSellerBurstDetector.Params(max_listings=2, window_minutes=10))
>>> t0 = parse_time("2026-01-01T12:00:00Z")
>>> state = d.initial_state()
>>> for i in range(3):
...     ev = ListingEvent(event_id=f"e{i}", event_time=t0 + timedelta(minutes=i), region="MY",
...         op="created", listing_id=f"l{i}", seller_id="s1", category="phones", title="iPhone",
...         price=300.0, currency="MYR", seller_age_days=1)
...     state, signals = d.detect(ev, state)
>>> [(s.code, s.entity_id, s.evidence["listings_in_window"]) for s in signals]
[('new_seller_burst', 's1', 3)]
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import signal

State = list[Any]
"""``[total, last_fired, t1, listing_id1, t2, listing_id2, ...]``: listings counted while the seller
was new, the event time (epoch seconds) of the last signal or None, then the held (time, listing id)
pairs, oldest first, flat.  One flat list rather than a dict of lists: one state per tracked seller,
and a million sellers are tracked, so it is kept to about 160 bytes for a seller with one listing
(`bench/bench_memory.py`).  The older ``{"recent": [[t, id], ...], "last_fired", "total"}`` form is
read too."""


def unpack(state: State | dict[str, Any]) -> tuple[int, float | None, list[tuple[float, str]]]:
    """(total, last_fired, [(time, listing id), ...] oldest first) of a state in either form."""
    if isinstance(state, dict):
        return (int(state.get("total", 0)), state.get("last_fired"),
                [(float(t), str(lid)) for t, lid in state.get("recent", [])])
    return int(state[0]), state[1], list(zip(state[2::2], state[3::2], strict=True))


def _pack(total: int, last_fired: float | None, recent: list[tuple[float, str]]) -> State:
    # Built from a tuple, so the list is allocated at its exact size (appending over-allocates).
    return list((total, last_fired, *itertools.chain.from_iterable(recent)))


@dataclass(frozen=True, slots=True)
class NewSellerBurstParams:
    """Parameters.

    * ``max_seller_age_days``: a seller is new while ``seller_age_days`` is below this.
    * ``max_listings``: fires when *more* than this many listings fall in one window.
    * ``window_minutes``: sliding window length, in event time.
    * ``cooldown_minutes``: event time after a signal during which the seller gets no other.
    * ``unknown_age_is_new``: treat a listing without ``seller_age_days`` as from a new seller.
    """

    max_seller_age_days: int = 7
    max_listings: int = 20
    window_minutes: float = 60.0
    cooldown_minutes: float = 60.0
    unknown_age_is_new: bool = False


class NewSellerBurstDetector:
    """Counts a new seller's listings in a sliding event-time window."""

    id: ClassVar[str] = "new_seller_burst"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[NewSellerBurstParams]] = NewSellerBurstParams

    BURST: Final = "new_seller_burst"

    def __init__(self, params: NewSellerBurstParams) -> None:
        if params.max_listings < 1 or params.window_minutes <= 0 or params.cooldown_minutes < 0:
            raise ValueError("max_listings must be >= 1, window_minutes > 0, cooldown_minutes >= 0")
        self.params = params
        self._window = params.window_minutes * 60.0
        self._cooldown = params.cooldown_minutes * 60.0

    def state_key(self, event: Event) -> str | None:
        if not isinstance(event, ListingEvent) or event.op != "created" or not self._is_new(event):
            return None
        return event.seller_id

    def initial_state(self) -> State:
        return [0, None]

    def detect(self, event: Event, state: State | dict[str, Any] | None) -> tuple[State, list[Signal]]:
        """`state` None (the engine passes it for events with no key) is a fresh state."""
        if state is None:
            state = self.initial_state()
        if not isinstance(event, ListingEvent) or self.state_key(event) is None:
            return state if isinstance(state, list) else _pack(*unpack(state)), []
        total, last_fired, recent = unpack(state)
        t = event.event_time.timestamp()
        if any(lid == event.listing_id for _, lid in recent):
            return state if isinstance(state, list) else _pack(total, last_fired, recent), []
        total += 1
        recent.append((t, event.listing_id))
        recent.sort(key=lambda e: float(e[0]))
        recent = recent[-(self.params.max_listings + 1) :]

        # Empty when the listing is older than every one held: too late to matter.
        in_window = self._fullest_window(recent, t)
        end = float(in_window[-1][0]) if in_window else t
        signals: list[Signal] = []
        cooled = last_fired is None or end - last_fired >= self._cooldown
        if len(in_window) > self.params.max_listings and cooled:
            signals.append(self._signal(event, in_window, total))
            last_fired = end if last_fired is None else max(end, last_fired)
        return _pack(total, last_fired, recent), signals

    def _fullest_window(self, recent: list[tuple[float, str]], t: float) -> list[tuple[float, str]]:
        """The fullest window ``(end - W, end]`` that contains `t`, `recent` sorted by time.

        Usually the window ends at `t`; a listing that arrives late in event
        time may instead complete a window that ends at a later listing.
        """
        times = [float(e[0]) for e in recent]
        best: list[tuple[float, str]] = []
        for j in range(bisect.bisect_left(times, t), len(times)):
            end = times[j]
            if end - self._window >= t:
                break
            window = recent[bisect.bisect_right(times, end - self._window) : bisect.bisect_right(times, end)]
            if len(window) > len(best):
                best = window
        return best

    def _is_new(self, event: ListingEvent) -> bool:
        if event.seller_age_days is None:
            return self.params.unknown_age_is_new
        return event.seller_age_days < self.params.max_seller_age_days

    def _signal(self, event: ListingEvent, in_window: list[tuple[float, str]], total: int) -> Signal:
        p = self.params
        age = event.seller_age_days
        # Younger sellers are riskier: 1.0 on day 0, falling towards 0.5 at the age limit.
        score = 0.5 if age is None else 0.5 + 0.5 * max(0.0, 1.0 - age / max(p.max_seller_age_days, 1))
        return signal(
            self.id,
            event,
            code=self.BURST,
            entity_type="seller",
            entity_id=event.seller_id,
            score=score,
            evidence={
                "seller_age_days": age,
                "max_seller_age_days": p.max_seller_age_days,
                "listings_in_window": len(in_window),
                "listings_as_new_seller": total,
                "max_listings": p.max_listings,
                "window_minutes": p.window_minutes,
                "window_start": _iso(in_window[0][0]),
                "listing_ids": [e[1] for e in in_window],
            },
        )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()
