"""Where riskstream finds its shipped files and keeps its own (ground layer).

Shipped files are package data (``riskstream/data/``): the sample policies,
Apache Kafka's Maven resolution files and log4j2 configuration.  They are
read through ``importlib.resources``, so they work from a checkout and from an
installed wheel alike.  Files riskstream *writes* (worker data, models, the
local broker, caches) never go into the checkout or site-packages by default:
they go under ``RISKSTREAM_HOME`` (default ``$XDG_STATE_HOME/riskstream``, i.e.
``~/.local/state/riskstream``) and ``RISKSTREAM_CACHE`` (default
``$XDG_CACHE_HOME/riskstream``).  The checkout's scripts point both at the
checkout's ``var/`` and ``.cache/``.

>>> (sample_policy_dir() / "eu.yaml").is_file()
True
>>> state_home({"RISKSTREAM_HOME": "/srv/rs"})
PosixPath('/srv/rs')
>>> state_home({"XDG_STATE_HOME": "/x", "HOME": "/h"})
PosixPath('/x/riskstream')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path


def package_data(*parts: str) -> Path:
    """A shipped file or folder under ``riskstream/data/``."""
    return Path(str(files("riskstream").joinpath("data", *parts)))


def sample_policy_dir() -> Path:
    """The sample region policies (examples, not legal advice)."""
    return package_data("policies")


def kafka_resolution_dir() -> Path:
    """``pom.xml`` (Kafka's jars from Maven Central) and ``log4j2.properties``."""
    return package_data("kafka")


def _xdg(env: Mapping[str, str], var: str, fallback: str) -> Path:
    base = env.get(var) or str(Path(env.get("HOME") or Path.home()) / fallback)
    return Path(base) / "riskstream"


def state_home(env: Mapping[str, str] | None = None) -> Path:
    """Where riskstream keeps what it writes: worker data, models, policies, the local broker."""
    e = os.environ if env is None else env
    return Path(e["RISKSTREAM_HOME"]) if e.get("RISKSTREAM_HOME") else _xdg(e, "XDG_STATE_HOME", ".local/state")


def cache_home(env: Mapping[str, str] | None = None) -> Path:
    """Downloads that can be re-fetched (Kafka's jars)."""
    e = os.environ if env is None else env
    return Path(e["RISKSTREAM_CACHE"]) if e.get("RISKSTREAM_CACHE") else _xdg(e, "XDG_CACHE_HOME", ".cache")
