from __future__ import annotations

import gc
from datetime import date

import pytest

from kiosk.core.card import verify_card
from kiosk.core.errors import ConfigError
from kiosk.core.policy import Mode, PassbackGuard, Policy, Stale, age_on
from tests.conftest import NAME, NOW, IssueFn, TrustFn


@pytest.mark.parametrize(
    ("dob", "today", "age"),
    [
        (date(2000, 3, 1), date(2018, 2, 28), 17),
        (date(2000, 3, 1), date(2018, 3, 1), 18),
        (date(2000, 2, 29), date(2018, 2, 28), 17),  # leap-day births turn 18 on March 1
        (date(2000, 2, 29), date(2018, 3, 1), 18),
    ],
)
def test_age_on(dob: date, today: date, age: int) -> None:
    assert age_on(dob, today) == age


def test_age_uses_the_sites_local_date() -> None:
    # 2026-09-22 02:20 UTC is still 2026-09-21 in Chicago
    moment = 1_790_046_000
    assert Policy(timezone="UTC").local_date(moment) == date(2026, 9, 22)
    assert Policy(timezone="America/Chicago").local_date(moment) == date(2026, 9, 21)


def test_mode_defaults() -> None:
    gate, counter = Policy.for_mode("gate"), Policy.for_mode("counter")
    assert gate.show == frozenset() and gate.stale is Stale.REJECT and gate.passback_s > 0
    assert counter.show == {"name", "age_flags", "benefits"}
    assert counter.stale is Stale.GRACE and counter.passback_s == 0
    assert "dob" not in counter.show


@pytest.mark.parametrize(
    "overrides",
    [{"show": frozenset({"address"})}, {"skew_s": -1}, {"min_age": 0}, {"timezone": "Mars/Base"}],
)
def test_bad_settings_refused(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        Policy.for_mode("gate", **overrides)


def test_holder_view_per_mode(issue: IssueFn, trust_of: TrustFn) -> None:
    decision = verify_card(issue().text, trust_of(), NOW, Policy.for_mode("gate"))
    assert decision.card is not None
    at_gate = Policy.for_mode(Mode.GATE).holder_view(decision.card, NOW)
    assert (at_gate.name, at_gate.age_flags, at_gate.benefits, at_gate.dob) == (None, (), (), None)
    at_counter = Policy.for_mode(Mode.COUNTER).holder_view(decision.card, NOW)
    assert at_counter.name == NAME
    assert at_counter.age_flags == ("18+", "21+")  # born 1987
    assert at_counter.dob is None
    configured = Policy.for_mode("counter", show=frozenset({"dob"}))
    assert configured.holder_view(decision.card, NOW).dob == "1987-06-05"
    assert NAME not in repr(at_counter) and NAME not in repr(decision)


def test_passback_key_stays_in_memory_and_differs_per_process(
    issue: IssueFn, trust_of: TrustFn
) -> None:
    card = issue()
    decision = verify_card(card.text, trust_of(), NOW, Policy.for_mode("gate"))
    first, second = PassbackGuard(60), PassbackGuard(60)
    first.check(decision, NOW)
    second.check(decision, NOW)
    assert first._seen.keys() != second._seen.keys()  # keyed: tags differ between guards
    assert card.serial not in b"".join(first._seen)
    assert "_key" not in repr(first) and first._key.hex() not in repr(first)
    # nothing but the guard itself holds the key
    holders = [o for o in gc.get_referrers(first._key) if o is not first and o is not vars(first)]
    assert holders == []


def test_passback_forgets_after_the_window(issue: IssueFn, trust_of: TrustFn) -> None:
    trust = trust_of()
    guard = PassbackGuard(30)
    for n in range(5):
        card = issue()
        guard.check(verify_card(card.text, trust, NOW, Policy.for_mode("gate")), NOW + n)
    assert len(guard) == 5
    late = issue()
    guard.check(verify_card(late.text, trust, NOW, Policy.for_mode("gate")), NOW + 100)
    assert len(guard) == 1
