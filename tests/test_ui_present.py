"""From real decisions to result screens, and the display's repaint and touch handling."""

from __future__ import annotations

from kiosk.core.card import verify_card
from kiosk.core.decision import Decision
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.issuer.city import Holder
from kiosk.ui import samples
from kiosk.ui.config import DisplayConfig
from kiosk.ui.display import Display
from kiosk.ui.i18n import BY_CODE, ENGLISH, LANGUAGES
from kiosk.ui.present import result_screen
from kiosk.ui.screens import Frame
from kiosk.ui.theme import Outcome
from tests.conftest import NAME, NOW, IssueFn, TrustFn

OFFERED = (ENGLISH, BY_CODE["es"], BY_CODE["ar"])


def present(decision, policy, **kwargs):  # type: ignore[no-untyped-def]
    return result_screen(
        decision,
        policy,
        NOW,
        languages=OFFERED,
        fallback=ENGLISH,
        frame=Frame(site="Library"),
        **kwargs,
    )


def test_accepted_at_a_gate_shows_nothing_of_the_holder(issue: IssueFn, trust_of: TrustFn) -> None:
    policy = Policy.for_mode("gate")
    screen = present(verify_card(issue().text, trust_of(), NOW, policy), policy)
    assert screen.outcome is Outcome.ACCEPTED
    assert screen.language == BY_CODE["es"]  # the card's lang
    assert screen.staff is None and not screen.counter


def test_counter_shows_what_the_policy_allows(issue: IssueFn, trust_of: TrustFn) -> None:
    policy = Policy.for_mode("counter")
    screen = present(verify_card(issue().text, trust_of(), NOW, policy), policy, pass_printed=True)
    assert screen.staff is not None
    assert screen.staff.name == NAME and screen.staff.age_flags == ("18+", "21+")
    assert screen.staff.dob is None  # never unless configured
    assert NAME not in repr(screen)


def test_refusals_and_stale_trust(issue: IssueFn, trust_of: TrustFn) -> None:
    policy = Policy.for_mode("gate")
    expired = issue(valid_s=10, issued_at=NOW - 1000)
    screen = present(verify_card(expired.text, trust_of(), NOW, policy), policy)
    assert (screen.outcome, screen.reason) == (Outcome.REJECTED, Reason.EXPIRED)
    # the verifier's answer when its trust data is stale (tested in test_trust_state)
    stale = Decision(Reason.TRUST_STALE, detail="status list expired")
    assert present(stale, policy).outcome is Outcome.CANT_CHECK
    grace = Decision(Reason.ACCEPTED, warnings=(Reason.TRUST_STALE,))
    assert present(grace, policy).stale_warning


def test_unverified_claims_never_choose_the_language(trust_of: TrustFn) -> None:
    policy = Policy.for_mode("gate")
    screen = present(verify_card("MID1:NOT-A-CARD", trust_of(), NOW, policy), policy)
    assert screen.outcome is Outcome.REJECTED and screen.language == ENGLISH


def test_unoffered_card_language_falls_back(issue: IssueFn, trust_of: TrustFn) -> None:
    policy = Policy.for_mode("gate")
    card = issue(Holder("A B", "1990-01-01", lang="ko"))
    assert present(verify_card(card.text, trust_of(), NOW, policy), policy).language == ENGLISH


def test_display_repaints_only_on_change_and_finds_touches() -> None:
    display = Display(
        DisplayConfig(driver="dummy", size=(800, 480), fullscreen=False), headless=True
    )
    idle = samples.sample("idle", ENGLISH, LANGUAGES[:3])
    assert display.show(idle, 0.0)
    assert not display.show(idle, 1.0)
    button = next(p for p in display.placed if p.role == "language:es")
    assert display.hit(button.box.center) == "language:es"
    assert display.show(samples.sample("idle", BY_CODE["es"], LANGUAGES[:3]), 2.0)
    reading = samples.sample("reading", ENGLISH)
    assert display.show(reading, 3.0) and display.show(reading, 3.1)  # animated
    display.close()


def test_valid_until_shows_only_when_configured(issue: IssueFn, trust_of: TrustFn) -> None:
    """The counter view showed the card's expiry whatever `show` said (issue 12)."""
    from datetime import UTC, datetime

    card = issue()
    default = Policy.for_mode("counter")
    screen = present(verify_card(card.text, trust_of(), NOW, default), default)
    assert screen.staff is not None and screen.staff.valid_until is None
    asked = Policy.for_mode("counter", show=frozenset({"name", "valid_until"}))
    screen = present(verify_card(card.text, trust_of(), NOW, asked), asked)
    expected = datetime.fromtimestamp(card.expires_at, UTC).date()
    assert screen.staff is not None and screen.staff.valid_until == expected


def test_a_gate_refusal_is_discreet_and_a_counter_says_why(
    issue: IssueFn, trust_of: TrustFn, city
) -> None:  # type: ignore[no-untyped-def]
    """At an unattended gate, "This card is on hold" is read by everyone in the queue: the
    public text is "Not accepted. Please see staff." unless the site chooses full reasons
    (issue 12); the audit line keeps the exact reason for staff."""
    from kiosk.core.policy import Refusals
    from kiosk.core.statuslist import Status
    from kiosk.ui import strings as S
    from kiosk.ui.outcome import result_words as _result_words

    card = issue()
    city.set_status("1", card.status_idx, Status.SUSPENDED)
    trust = trust_of()
    gate = Policy.for_mode("gate", passback_s=0)
    decided = verify_card(card.text, trust, NOW, gate)
    assert decided.reason is Reason.SUSPENDED  # the decision itself is exact
    assert _result_words(present(decided, gate)) == (S.NOT_ACCEPTED, [S.SEE_STAFF])
    full = Policy.for_mode("gate", refusals=Refusals.FULL)
    assert S.REASON_TEXT[Reason.SUSPENDED][0] in _result_words(present(decided, full))[1]
    counter = Policy.for_mode("counter")
    assert S.REASON_TEXT[Reason.SUSPENDED][0] in _result_words(present(decided, counter))[1]
    # refusals that say nothing about the holder keep their help at a gate
    junk = verify_card("MID1:NOT-A-CARD", trust, NOW, gate)
    assert S.REASON_TEXT[Reason.MALFORMED][0] in _result_words(present(junk, gate))[1]
