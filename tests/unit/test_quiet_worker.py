"""The worker keeps the root logger at the level asked for (faust's spinner would set it to DEBUG)."""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from riskstream.settings import Settings
from riskstream.stream.app import build_faust_app
from riskstream.stream.faust_fixes import QuietWorker


def test_the_app_uses_the_quiet_worker_and_warn_keeps_debug_calls_off(tmp_path: Path) -> None:
    app = build_faust_app(Settings.from_env({"RISKSTREAM_HOME": str(tmp_path)}))
    assert app.conf.Worker is QuietWorker
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        root.handlers = [logging.NullHandler()]
        root.setLevel(logging.WARN)
        QuietWorker(app, loglevel="warn").on_setup_root_logger(root, logging.WARN)
        assert root.level == logging.WARN and not logging.getLogger("aiokafka.conn").isEnabledFor(logging.DEBUG)
        # What faust's own worker does with the same call: the reason QuietWorker exists.
        faust.Worker(app, loglevel="warn").on_setup_root_logger(root, logging.WARN)
        assert root.level == logging.DEBUG
    finally:
        root.handlers = handlers
        root.setLevel(level)


def test_the_producer_lingers_as_configured(tmp_path: Path) -> None:
    home = {"RISKSTREAM_HOME": str(tmp_path)}
    assert build_faust_app(Settings.from_env(home)).conf.producer_linger == 0
    assert build_faust_app(Settings.from_env({**home, "RISKSTREAM_PRODUCER_LINGER_MS": "2"})).conf.producer_linger == 0.002
    import pytest

    with pytest.raises(ValueError, match="PRODUCER_LINGER_MS"):
        Settings.from_env({**home, "RISKSTREAM_PRODUCER_LINGER_MS": "-1"})
