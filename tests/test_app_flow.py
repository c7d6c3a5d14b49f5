"""The loop decides every card and waits for no one (issue 11, section 3), through the real
stack: the Modbus turnstile module, libosdp's control panel and the receipt printer, each a
simulator on a pty wire."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pygame

from firmware_bridge.osdp_reader import OsdpReader, OsdpReaderConfig
from firmware_bridge.simulators.access_panel import AccessPanel
from firmware_bridge.simulators.receipt_printer import ReceiptPrinter
from firmware_bridge.simulators.wire import Wire
from kiosk.core.policy import Mode
from kiosk.issuer.city import City
from kiosk.ui import strings as S
from kiosk.ui.screens import Idle, OutOfService, Problem, Reading, Result, Technician
from kiosk.ui.theme import Outcome
from tests import test_app
from tests.test_app import Rig, card, enter_pin, make_rig

SCBK = bytes.fromhex("5f3b0c1d2e4a69788796a5b4c3d2e1f0")
SITE = bytes.fromhex("c17c4a2d00000001")
ARABIC_SITE = "مكتبة المدينة المركزية"
turnstile = test_app.turnstile  # the Modbus module on its wire, as a fixture here too


def gate_signals(rig: Rig) -> list[str]:
    return [str(r["signal"]) for r in rig.audit() if r["event"] == "gate"]


def passes(rig: Rig) -> list[dict[str, object]]:
    return [r for r in rig.audit() if r["event"] == "pass"]


def result(rig: Rig) -> Result:
    screen = rig.kiosk.screen
    assert isinstance(screen, Result), screen
    return screen


# -- a card held up while a result shows --------------------------------------------------


def test_a_card_held_up_during_a_result_is_decided_when_the_kiosk_is_free(
    tmp_path: Path, city: City
) -> None:
    rig = make_rig(tmp_path, city, mode=Mode.COUNTER)
    first, second = card(city), card(city, name="Someone Else")
    rig.show(first)
    rig.show(second)  # held up during the first result: the scanner sends it once only
    rig.show(first)  # the first card's own later reading: the same presentation
    assert [s["reason"] for s in rig.scans()] == ["ACCEPTED"]
    rig.clock.advance(4.1)  # the first result is over
    rig.kiosk.step()
    assert [s["reason"] for s in rig.scans()] == ["ACCEPTED", "ACCEPTED"]
    assert result(rig).outcome is Outcome.ACCEPTED
    rig.clock.advance(4.1)
    rig.kiosk.step()
    assert len(rig.scans()) == 2  # nothing else was waiting
    assert isinstance(rig.kiosk.screen, Idle)


def test_only_the_latest_held_card_is_decided(tmp_path: Path, city: City) -> None:
    rig = make_rig(tmp_path, city, mode=Mode.COUNTER)
    rig.show(card(city))
    rig.show(card(city, name="Walked Away"))
    rig.show(card(city, benefits=("museum",)))  # the latest: refused here
    rig.clock.advance(4.1)
    rig.kiosk.step()
    assert [s["reason"] for s in rig.scans()] == ["ACCEPTED", "POLICY_DENIED"]


def test_a_held_card_is_granted_after_the_passage(tmp_path: Path, city: City, turnstile) -> None:  # type: ignore[no-untyped-def]
    gate, module = turnstile
    rig = make_rig(tmp_path, city, gate=gate)
    assert rig.wait_for(lambda: gate.online)
    rig.show(card(city))
    rig.show(card(city, name="Someone Else"))  # waits for the first visitor
    assert rig.wait_for(lambda: module.passages == 1)
    rig.clock.advance(4.1)
    assert rig.wait_for(lambda: module.unlocks == 2)
    assert [s["action"] for s in rig.scans()] == ["grant", "grant"]


# -- OSDP: the panel's verdict is what the screen says ------------------------------------


@contextmanager
def panel_site(
    tmp_path: Path,
    *,
    granted: frozenset[bytes] = frozenset({SITE}),
    credential: str = "site",
    answer: bool = True,
    verdict_timeout_s: float = 3.0,
) -> Iterator[tuple[OsdpReader, AccessPanel]]:
    wire = Wire(tmp_path / "usb-rs485")
    panel = AccessPanel(wire.device_path, SCBK, 101, granted=granted)
    panel.answer = answer
    reader = OsdpReader(
        OsdpReaderConfig(
            port=wire.kiosk_path,
            scbk=SCBK,
            credential=credential,  # type: ignore[arg-type]
            site_credential=SITE,
            verdict_timeout_s=verdict_timeout_s,
        )
    )
    try:
        yield reader, panel
    finally:
        reader.close()
        panel.close()
        wire.close()


def online(rig: Rig, panel: AccessPanel) -> None:
    assert rig.wait_for(lambda: panel.online() and not rig.kiosk.problems, timeout=15)


def test_the_panel_refuses_and_the_screen_says_so(tmp_path: Path, city: City) -> None:
    with panel_site(tmp_path, granted=frozenset()) as (reader, panel):
        rig = make_rig(tmp_path, city, gate=reader)
        online(rig, panel)
        rig.show(card(city))
        assert isinstance(rig.kiosk.screen, Reading)  # checking with the door controller
        assert rig.wait_for(lambda: isinstance(rig.kiosk.screen, Result))
        assert result(rig).outcome is Outcome.REJECTED
        assert panel.reads == [SITE]
        assert "refused" in gate_signals(rig)
        assert rig.scans()[-1]["action"] == "grant"  # the card read was reported


def test_the_panel_grants_and_the_next_card_need_not_wait(tmp_path: Path, city: City) -> None:
    with panel_site(tmp_path) as (reader, panel):
        rig = make_rig(tmp_path, city, gate=reader)
        online(rig, panel)
        rig.show(card(city))
        assert isinstance(rig.kiosk.screen, Reading)
        assert rig.wait_for(lambda: isinstance(rig.kiosk.screen, Result))
        assert result(rig).outcome is Outcome.ACCEPTED
        assert "granted" in gate_signals(rig)
        rig.clock.advance(4.1)  # the result is over; OSDP never reports a passage
        rig.show(card(city, name="Someone Else"))
        assert [s["action"] for s in rig.scans()] == ["grant", "grant"]
        assert isinstance(rig.kiosk.screen, Reading)
        assert rig.wait_for(lambda: len(panel.reads) == 2)


def test_a_silent_panel_is_cant_check_and_the_card_may_try_again(
    tmp_path: Path, city: City
) -> None:
    with panel_site(tmp_path, answer=False, verdict_timeout_s=1.0) as (reader, panel):
        rig = make_rig(tmp_path, city, gate=reader)
        online(rig, panel)
        text = card(city)
        rig.show(text)
        assert isinstance(rig.kiosk.screen, Reading)
        assert rig.wait_for(lambda: isinstance(rig.kiosk.screen, Result), timeout=5)
        assert result(rig).outcome is Outcome.CANT_CHECK  # never "Welcome", never "invalid"
        assert "timeout" in gate_signals(rig)
        rig.clock.advance(4.1)
        rig.show(text)  # not a passback: nobody was let in
        assert [s["reason"] for s in rig.scans()] == ["ACCEPTED", "ACCEPTED"]


def test_the_test_gate_works_at_a_serial_credential_site(tmp_path: Path, city: City) -> None:
    with panel_site(tmp_path, credential="serial") as (reader, panel):
        rig = make_rig(tmp_path, city, gate=reader, pin="2468")
        online(rig, panel)
        rig.show(card(city, role="technician", benefits=()))
        enter_pin(rig)
        menu = rig.kiosk.menu
        assert menu is not None and not menu.locked
        menu.selected = menu.items.index(S.TEST_GATE)
        rig.kiosk.key(pygame.K_RETURN)
        assert rig.wait_for(lambda: len(panel.reads) == 1)
        # the panel knows no test credential: it refuses, and the pane says what it answered
        assert rig.wait_for(lambda: any("refused" in line for line in pane(rig)))
        assert Problem.GATE not in rig.kiosk.problems
        notes = [r.get("action") for r in rig.audit() if r["event"] == "technician"]
        assert notes[-1] == "test_unlock"


def pane(rig: Rig) -> tuple[str, ...]:
    screen = rig.kiosk.screen
    return screen.pane_lines if isinstance(screen, Technician) else ()


# -- the pass printer has its own worker --------------------------------------------------


@contextmanager
def receipt_printer(tmp_path: Path) -> Iterator[tuple[Wire, ReceiptPrinter, object]]:
    from firmware_bridge.escpos_printer import EscposPrinter, PrinterConfig

    wire = Wire(tmp_path / "usb-printer")
    sim = ReceiptPrinter(wire.device_path)
    printer = EscposPrinter(PrinterConfig(port=wire.kiosk_path, baudrate=19200))
    try:
        yield wire, sim, printer
    finally:
        printer.close()
        sim.close()
        wire.close()


def test_the_audit_line_and_the_screen_come_before_the_pass(tmp_path: Path, city: City) -> None:
    with receipt_printer(tmp_path) as (_, sim, printer):
        rig = make_rig(tmp_path, city, mode=Mode.COUNTER, printer=printer, site=ARABIC_SITE)
        seen: list[tuple[int, bool]] = []  # what the kiosk had done when the printer heard

        def first_byte(_: bytes) -> None:
            if not seen:
                seen.append((len(rig.scans()), isinstance(rig.kiosk.screen, Result)))

        sim.on_data = first_byte
        rig.show(card(city))
        assert result(rig).outcome is Outcome.ACCEPTED and result(rig).pass_printed
        assert rig.scans()[-1]["action"] == "accept_pass"
        assert rig.wait_for(lambda: [p["state"] for p in passes(rig)] == ["printed"])
        assert seen == [(1, True)]
        # the Arabic site name, drawn as an image, reaches the printer
        assert rig.wait_for(lambda: sim.printed().rstrip().endswith(b"\x1dV\x00"))
        assert b"\x1dv0" in sim.printed()


def test_a_printer_failure_is_shown_and_audited_without_delaying_the_next_card(
    tmp_path: Path, city: City
) -> None:
    with receipt_printer(tmp_path) as (_, sim, printer):
        rig = make_rig(tmp_path, city, mode=Mode.COUNTER, printer=printer)
        sim.silent = True  # switched off: every status question goes unanswered
        rig.show(card(city))
        rig.clock.advance(4.1)
        rig.show(card(city, name="Next In Line"))  # decided while the first pass still waits
        assert [s["action"] for s in rig.scans()] == ["accept_pass", "accept_pass"]
        assert rig.wait_for(lambda: len(passes(rig)) == 2)
        assert [p["state"] for p in passes(rig)] == ["failed", "failed"]
        assert "not answering" in str(passes(rig)[0]["detail"])
        assert not result(rig).pass_printed  # no "take your pass" once it is known to fail
        rig.clock.advance(4.1)
        rig.kiosk.step()
        assert isinstance(rig.kiosk.screen, OutOfService)
        assert rig.kiosk.screen.problems == (Problem.PRINTER,)
        sim.silent = False
        rig.clock.advance(11)  # the next status check finds it back
        assert rig.wait_for(lambda: isinstance(rig.kiosk.screen, Idle))
