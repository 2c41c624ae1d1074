"""The blast-radius guard: a rule whose enforcement rate jumps drops to shadow for that region.

A bad term list or a broken detector can start removing thousands of honest
listings in minutes.  Per rule and region, the guard keeps the enforced-action
rate (enforced actions per screened event) of the last `baseline_windows`
closed windows.  When a window's rate exceeds `multiple` times the baseline's
mean rate (and the window has at least `min_actions` enforced actions, so a
quiet rule firing twice is not a surge), the guard trips: the rule runs in
shadow for that region until a policy manager re-enables it (`reenable`).  A
tripped window is not learnt into the baseline.  Pure: the stream layer keeps
one `GuardState` per (rule, region), publishes the `Trip` on the control
topic and fires the alert.

>>> cfg = GuardConfig(multiple=3.0, min_actions=5, baseline_windows=4, min_baseline_windows=2)
>>> s = GuardState()
>>> for actions in (2, 3, 2):  # 2-3 enforced per 100 events
...     s, trip = observe_window(s, actions, 100, cfg)
>>> s, trip = observe_window(s, 40, 100, cfg)
>>> trip.rate, round(trip.baseline_rate, 4), s.shadowed
(0.4, 0.0233, True)
>>> reenable(s).shadowed
False
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardConfig:
    multiple: float = 5.0
    min_actions: int = 20
    baseline_windows: int = 24  # with 10-minute windows: the last four hours
    min_baseline_windows: int = 6


@dataclass(frozen=True, slots=True)
class Trip:
    """Why the guard dropped a rule to shadow (the control-topic record and the alert carry it)."""

    rate: float
    baseline_rate: float
    actions: int
    events: int
    multiple: float


@dataclass(frozen=True, slots=True)
class GuardState:
    windows: tuple[tuple[int, int], ...] = ()  # (enforced actions, events) per closed window, oldest first
    shadowed: bool = False
    trip: Trip | None = None

    def baseline_rate(self) -> float | None:
        events = sum(e for _, e in self.windows)
        return sum(a for a, _ in self.windows) / events if events else None


def observe_window(state: GuardState, actions: int, events: int, cfg: GuardConfig) -> tuple[GuardState, Trip | None]:
    """Account one closed window of a rule in a region; the `Trip` if this window trips the guard."""
    if state.shadowed or events <= 0:
        return state, None
    rate = actions / events
    baseline = state.baseline_rate()
    enough = len(state.windows) >= cfg.min_baseline_windows and baseline is not None
    if enough and actions >= cfg.min_actions and rate > cfg.multiple * max(baseline or 0.0, 1.0 / events):
        trip = Trip(rate=rate, baseline_rate=baseline or 0.0, actions=actions, events=events, multiple=cfg.multiple)
        return dataclasses.replace(state, shadowed=True, trip=trip), trip
    windows = (*state.windows, (actions, events))[-cfg.baseline_windows:]
    return dataclasses.replace(state, windows=windows), None


def reenable(state: GuardState) -> GuardState:
    """A policy manager re-enabled the rule: enforced again, baseline kept, trip cleared."""
    return dataclasses.replace(state, shadowed=False, trip=None)
