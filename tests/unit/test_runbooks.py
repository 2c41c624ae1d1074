"""Every alert and every incident kind links to a runbook file that exists."""

from __future__ import annotations

import re

import pytest
import yaml

from riskstream.models.incidents import HARM_WEIGHT, runbook_for
from tests.paths import REPO

RULES = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
ALERTS = [r for g in RULES["groups"] for r in g["rules"] if "alert" in r]


@pytest.mark.parametrize("alert", ALERTS, ids=[a["alert"] for a in ALERTS])
def test_every_alert_links_a_runbook_that_exists(alert: dict[str, object]) -> None:
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    url = annotations.get("runbook_url")
    assert isinstance(url, str) and url.startswith("runbooks/"), alert["alert"]
    path = REPO / url
    assert path.is_file(), f"{alert['alert']} links {url}, which does not exist"
    assert str(alert["alert"]) in path.read_text(), f"{url} does not name the alert it is for"


@pytest.mark.parametrize("harm_kind", sorted(HARM_WEIGHT))
def test_every_incident_kind_links_a_runbook_that_exists(harm_kind: str) -> None:
    assert (REPO / runbook_for(harm_kind)).is_file()


def test_links_between_runbooks_resolve() -> None:
    for page in (REPO / "runbooks").glob("*.md"):
        for target in re.findall(r"\b([a-z_]+\.md)\b", page.read_text()):
            assert (REPO / "runbooks" / target).is_file(), f"{page.name} mentions missing {target}"
