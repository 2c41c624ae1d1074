"""Signal detectors: pure, typed units configured by region policy."""
