"""The technician's diagnostics pane in words, through the real kiosk loop (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

from kiosk.app.technician import REASON_WORDS
from kiosk.core.reasons import Reason
from kiosk.issuer.city import City
from kiosk.ui import strings as S
from kiosk.ui.screens import Technician
from tests.test_app import card, make_rig, technician_card


def test_diagnostics_show_outcomes_in_words_and_the_export_keeps_codes(
    tmp_path: Path, city: City
) -> None:
    rig = make_rig(tmp_path, city)
    for shown in (card(city), "MID1:NOT-A-CARD"):
        rig.show(shown)
        rig.clock.advance(11)  # the result over, and no gate here to report a passage
        rig.kiosk.step()
    rig.show(technician_card(city)[0])
    screen = rig.kiosk.screen
    assert isinstance(screen, Technician) and screen.pane_title == S.DIAGNOSTICS
    scans = next(line for line in screen.pane_lines if line.startswith("scans:"))
    # the technician card is a valid card too: two accepted
    assert "accepted 2" in scans and "not a city card 1" in scans
    assert not any(reason.value in scans for reason in Reason)
    menu = rig.kiosk.menu
    assert menu is not None
    menu.selected = menu.items.index(S.EXPORT_DIAGNOSTICS)
    rig.kiosk.activate()
    (exported,) = (tmp_path / "state" / "diagnostics").glob("*.json")
    counts = json.loads(exported.read_text())["counts"]
    assert counts["ACCEPTED"] == 2 and counts["MALFORMED"] == 1


def test_every_reason_has_its_words() -> None:
    assert set(REASON_WORDS) == set(Reason)
    assert len(set(REASON_WORDS.values())) == len(Reason)
