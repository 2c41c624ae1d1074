"""ISO 3166-1 alpha-2 country codes grouped into policy regions.

A policy is written per region (EU, UK, US, SEA, ...); an event carries the
country it happened in.  An event from a country that no region claims is
refused at ingest (dead-lettered), because no policy could be applied to it.

>>> region_of("DE")
'EU'
>>> region_of("XX") is None
True
"""

from __future__ import annotations

from typing import Final

REGIONS: Final[dict[str, frozenset[str]]] = {
    "EU": frozenset(
        ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
    ),
    "UK": frozenset({"GB"}),
    "US": frozenset({"US"}),
    "SEA": frozenset({"SG", "MY", "TH", "ID", "PH", "VN"}),
}

_COUNTRY_TO_REGION: Final[dict[str, str]] = {
    country: region for region, countries in REGIONS.items() for country in countries
}

COUNTRIES: Final[frozenset[str]] = frozenset(_COUNTRY_TO_REGION)


def region_of(country: str) -> str | None:
    """The policy region a country belongs to, or None if none claims it."""
    return _COUNTRY_TO_REGION.get(country)
