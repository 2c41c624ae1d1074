"""Paths of the checkout, for tests only (the package itself never points into the checkout)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
