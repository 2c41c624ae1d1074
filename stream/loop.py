"""Which asyncio event loop a worker runs on: the standard library's, or uvloop (libuv).

Faust's worker gets its loop from asyncio's event loop policy (through
`mode.loop`), so the choice must be made before the app or its worker builds
a loop: `riskstream worker` calls `use_loop` first thing.

>>> use_loop("asyncio")
'asyncio'
>>> use_loop("tokio")
Traceback (most recent call last):
...
ValueError: unknown event loop 'tokio'; one of asyncio, uvloop
"""

from __future__ import annotations

import asyncio

from riskstream.settings import EVENT_LOOPS


def use_loop(name: str) -> str:
    """Make `name` the event loop of every loop created from now on; returns the name in force."""
    if name not in EVENT_LOOPS:
        raise ValueError(f"unknown event loop {name!r}; one of {', '.join(EVENT_LOOPS)}")
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as exc:  # no wheel on this platform (Windows): say so rather than fall back silently
            raise RuntimeError("RISKSTREAM_LOOP=uvloop, but uvloop is not installed") from exc
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    else:
        asyncio.set_event_loop_policy(None)  # the default policy: asyncio's own loop
    return name


def loop_in_use() -> str:
    """The name of the loop the current policy makes: "uvloop" or "asyncio"."""
    policy = type(asyncio.get_event_loop_policy())
    return "uvloop" if policy.__module__.startswith("uvloop") else "asyncio"
