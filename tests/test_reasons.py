"""One test (at least) per reason code, each built from real issuer output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from kiosk.core.card import verify_card
from kiosk.core.policy import PassbackGuard, Policy, Stale
from kiosk.core.reasons import Reason
from kiosk.core.statuslist import Status
from kiosk.issuer.city import DAY_S, YEAR_S, City, Holder
from tests.cards import card_key, claims_of, resign, tamper
from tests.conftest import DOB, NAME, NOW, IssueFn, TrustFn


def test_every_reason_code_has_a_test_here() -> None:
    source = Path(__file__).read_text()
    for reason in Reason:
        assert f"Reason.{reason.name}" in source.replace("Reason.{reason.name}", ""), reason


def test_accepted(issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City) -> None:
    card = issue()
    decision = verify_card(card.text, trust_of(), NOW, gate)
    assert decision.reason is Reason.ACCEPTED
    assert decision.kid == city.active_key("card", NOW).kid
    assert decision.card is not None
    assert (decision.card.name, decision.card.dob.isoformat()) == (NAME, DOB)
    assert decision.card.serial == card.serial
    assert decision.status_checked == (card.status_uri, card.status_idx)
    assert decision.warnings == ()


@pytest.mark.parametrize(
    "text",
    [
        "https://menu.example/table/12",
        "",
        "MID1:",
        "MID1:A",  # base45 of a wrong length
        "MID1:abc",  # lower case: not base45
        "mid1:BB8",
        "MID1:BB8",  # base45 fine, CBOR not a COSE_Sign1
    ],
)
def test_malformed(text: str, trust_of: TrustFn, gate: Policy) -> None:
    assert verify_card(text, trust_of(), NOW, gate).reason is Reason.MALFORMED


def test_malformed_truncated_card(issue: IssueFn, trust_of: TrustFn, gate: Policy) -> None:
    text = issue().text
    assert verify_card(text[:-30], trust_of(), NOW, gate).reason is Reason.MALFORMED


def test_malformed_over_long_text(trust_of: TrustFn, gate: Policy) -> None:
    assert verify_card("MID1:" + "0" * 1020, trust_of(), NOW, gate).reason is Reason.MALFORMED


def test_malformed_signed_claims_of_wrong_shape(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    key, kid = card_key(city, NOW)
    text = issue().text

    def bad_dob(claims: dict) -> None:
        claims[-65537]["dob"] = "1987-13-45"

    def bidi_name(claims: dict) -> None:
        claims[-65537]["name"] = "Ana\u202eRLO"

    for mutate in (bad_dob, bidi_name):
        decision = verify_card(resign(text, key, kid, mutate), trust_of(), NOW, gate)
        assert decision.reason is Reason.MALFORMED
        assert decision.card is None


def test_unsupported_other_format_version(trust_of: TrustFn, gate: Policy) -> None:
    assert verify_card("MID2:BB8", trust_of(), NOW, gate).reason is Reason.UNSUPPORTED


def test_unsupported_algorithm(issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City) -> None:
    key, kid = card_key(city, NOW)
    es256 = resign(issue().text, key, kid, protected={1: -7, 4: kid})
    assert verify_card(es256, trust_of(), NOW, gate).reason is Reason.UNSUPPORTED


def test_unsupported_card_claim_version(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    key, kid = card_key(city, NOW)

    def v2(claims: dict) -> None:
        claims[-65537]["v"] = 2

    assert verify_card(resign(issue().text, key, kid, v2), trust_of(), NOW, gate).reason is (
        Reason.UNSUPPORTED
    )


def test_unknown_key_another_city(tmp_path, trust_of: TrustFn, gate: Policy, holder) -> None:
    other = City.init(tmp_path / "other", "us-ny-nyc", "https://nyc.example/s/", NOW - YEAR_S)
    text = other.issue(holder, NOW).text
    assert verify_card(text, trust_of(), NOW, gate).reason is Reason.UNKNOWN_KEY


def test_bad_signature_tampered_claims(issue: IssueFn, trust_of: TrustFn, gate: Policy) -> None:
    def add_benefit(claims: dict) -> None:
        claims[-65537]["ben"] = ["library", "museum"]

    decision = verify_card(tamper(issue().text, add_benefit), trust_of(), NOW, gate)
    assert decision.reason is Reason.BAD_SIGNATURE
    assert decision.card is None  # unauthenticated claims are never handed on


def test_bad_signature_forged_with_known_kid(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    _, kid = card_key(city, NOW)
    forged = resign(issue().text, SigningKey.generate(), kid)
    assert verify_card(forged, trust_of(), NOW, gate).reason is Reason.BAD_SIGNATURE


def test_key_not_valid_card_signed_by_status_key(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    status = city.active_key("status", NOW)
    text = resign(issue().text, city.signing_key(status.kid), status.kid)
    decision = verify_card(text, trust_of(), NOW, gate)
    assert decision.reason is Reason.KEY_NOT_VALID
    assert "status key" in decision.detail


def test_key_not_valid_card_issued_after_key_rotated(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    old_key, old_kid = card_key(city, NOW - 10 * DAY_S)
    earlier = issue(issued_at=NOW - 5 * DAY_S).text
    city.rotate("card", NOW - 3 * DAY_S)

    def issued_yesterday(claims: dict) -> None:
        claims[6] = NOW - DAY_S

    late = resign(earlier, old_key, old_kid, issued_yesterday)
    trust = trust_of()
    # a card the old key signed before the rotation stays valid
    assert verify_card(earlier, trust, NOW, gate).reason is Reason.ACCEPTED
    assert verify_card(late, trust, NOW, gate).reason is Reason.KEY_NOT_VALID
    # and new cards come from the new key
    assert verify_card(issue().text, trust, NOW, gate).kid != old_kid


def test_key_not_valid_revoked_kid(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    text = issue().text
    city.revoke_key(city.active_key("card", NOW).kid)
    decision = verify_card(text, trust_of(), NOW, gate)
    assert decision.reason is Reason.KEY_NOT_VALID
    assert "revoked" in decision.detail


def test_wrong_issuer(issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City) -> None:
    key, kid = card_key(city, NOW)

    def other_issuer(claims: dict) -> None:
        claims[1] = "us-ny-nyc"

    decision = verify_card(resign(issue().text, key, kid, other_issuer), trust_of(), NOW, gate)
    assert decision.reason is Reason.WRONG_ISSUER


def test_not_yet_valid_beyond_skew(issue: IssueFn, trust_of: TrustFn, gate: Policy) -> None:
    trust = trust_of()
    assert verify_card(issue(issued_at=NOW + 3600).text, trust, NOW, gate).reason is (
        Reason.NOT_YET_VALID
    )
    within_skew = issue(issued_at=NOW + gate.skew_s - 1).text
    assert verify_card(within_skew, trust, NOW, gate).reason is Reason.ACCEPTED


def test_expired_beyond_skew(issue: IssueFn, trust_of: TrustFn, gate: Policy) -> None:
    trust = trust_of()
    expired = issue(issued_at=NOW - YEAR_S, expires_at=NOW - 3600).text
    assert verify_card(expired, trust, NOW, gate).reason is Reason.EXPIRED
    just = issue(issued_at=NOW - YEAR_S, expires_at=NOW - gate.skew_s + 1).text
    assert verify_card(just, trust, NOW, gate).reason is Reason.ACCEPTED
    strict = replace(gate, skew_s=0)
    assert verify_card(just, trust, NOW, strict).reason is Reason.EXPIRED


def test_revoked(issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City) -> None:
    card, neighbour = issue(), issue()
    city.set_status("1", card.status_idx, Status.REVOKED)
    trust = trust_of()
    assert verify_card(card.text, trust, NOW, gate).reason is Reason.REVOKED
    assert verify_card(neighbour.text, trust, NOW, gate).reason is Reason.ACCEPTED


def test_suspended_then_reinstated(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    card = issue()
    city.set_status("1", card.status_idx, Status.SUSPENDED)
    assert verify_card(card.text, trust_of(), NOW, gate).reason is Reason.SUSPENDED
    city.set_status("1", card.status_idx, Status.VALID)
    assert verify_card(card.text, trust_of(NOW + 1), NOW + 2, gate).reason is Reason.ACCEPTED


def test_trust_stale_without_trust_data(issue: IssueFn, gate: Policy) -> None:
    decision = verify_card(issue().text, None, NOW, gate)
    assert decision.reason is Reason.TRUST_STALE


def test_trust_stale_expired_bundle_at_a_gate(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    trust = trust_of(NOW - 40 * DAY_S)  # bundle valid 30 days, lists 2 days
    decision = verify_card(issue(issued_at=NOW - 50 * DAY_S).text, trust, NOW, gate)
    assert decision.reason is Reason.TRUST_STALE


def test_trust_stale_revoked_card_with_stale_list_is_still_revoked_never_the_reverse(
    issue: IssueFn, trust_of: TrustFn, city: City
) -> None:
    good, revoked, suspended = issue(issued_at=NOW - 9 * DAY_S), issue(), issue()
    city.set_status("1", revoked.status_idx, Status.REVOKED)
    city.set_status("1", suspended.status_idx, Status.SUSPENDED)
    trust = trust_of(NOW - 3 * DAY_S)  # its status list expired a day ago
    counter = Policy.for_mode("counter", passback_s=0)
    assert counter.stale is Stale.GRACE
    accepted = verify_card(good.text, trust, NOW, counter)
    assert accepted.reason is Reason.ACCEPTED
    assert accepted.warnings == (Reason.TRUST_STALE,)
    # revocation is permanent: stale data can still prove it
    assert verify_card(revoked.text, trust, NOW, counter).reason is Reason.REVOKED
    # a suspension may have been lifted since: "can't check", not "bad card"
    assert verify_card(suspended.text, trust, NOW, counter).reason is Reason.TRUST_STALE
    # past the grace period even the counter cannot check
    late = NOW + counter.stale_grace_s
    assert verify_card(good.text, trust, late, counter).reason is Reason.TRUST_STALE
    gate = Policy.for_mode("gate")
    assert verify_card(good.text, trust, NOW, gate).reason is Reason.TRUST_STALE


def test_trust_stale_when_the_clock_is_behind_the_trust_data(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    card = issue(issued_at=NOW - 30 * DAY_S)
    trust = trust_of(NOW)
    decision = verify_card(card.text, trust, NOW - 10 * DAY_S, gate)
    assert decision.reason is Reason.TRUST_STALE
    assert "clock" in decision.detail


def test_trust_stale_when_the_cards_list_is_unknown(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    key, kid = card_key(city, NOW)

    def other_list(claims: dict) -> None:
        claims[65535]["status_list"]["uri"] = "https://id.example.gov/status/99"

    decision = verify_card(resign(issue().text, key, kid, other_list), trust_of(), NOW, gate)
    assert decision.reason is Reason.TRUST_STALE


def test_policy_denied_benefit_and_age(issue: IssueFn, trust_of: TrustFn) -> None:
    trust, text = trust_of(), issue().text
    museum = Policy.for_mode("gate", required_benefits=frozenset({"museum"}), passback_s=0)
    assert verify_card(text, trust, NOW, museum).reason is Reason.POLICY_DENIED
    either = replace(museum, required_benefits=frozenset({"museum", "library"}))
    assert verify_card(text, trust, NOW, either).reason is Reason.ACCEPTED
    over_50 = Policy.for_mode("gate", min_age=50, passback_s=0)  # holder born 1987
    assert verify_card(text, trust, NOW, over_50).reason is Reason.POLICY_DENIED
    over_21 = replace(over_50, min_age=21)
    assert verify_card(text, trust, NOW, over_21).reason is Reason.ACCEPTED


def test_policy_does_not_apply_to_technicians(issue: IssueFn, trust_of: TrustFn) -> None:
    tech = issue(Holder("Tech", "2010-01-01", role="technician"))
    strict = Policy.for_mode("gate", required_benefits=frozenset({"museum"}), min_age=21)
    decision = verify_card(tech.text, trust_of(), NOW, strict)
    assert decision.reason is Reason.ACCEPTED
    assert decision.role == "technician"


def test_passback(issue: IssueFn, trust_of: TrustFn) -> None:
    trust, card, other = trust_of(), issue(), issue()
    policy = Policy.for_mode("gate")
    guard = PassbackGuard(policy.passback_s)
    assert guard.check(verify_card(card.text, trust, NOW, policy), NOW).accepted
    again = guard.check(verify_card(card.text, trust, NOW + 5, policy), NOW + 5)
    assert again.reason is Reason.PASSBACK
    assert guard.check(verify_card(other.text, trust, NOW + 6, policy), NOW + 6).accepted
    later = NOW + policy.passback_s + 1
    assert guard.check(verify_card(card.text, trust, later, policy), later).accepted


def test_claims_round_trip_what_was_issued(issue: IssueFn) -> None:
    card = issue()
    claims = claims_of(card.text)
    assert claims[7] == card.serial
    assert claims[65535] == {"status_list": {"idx": card.status_idx, "uri": card.status_uri}}
    assert claims[-65537] == {"v": 1, "name": NAME, "dob": DOB, "lang": "es", "ben": ["library"]}


def test_malformed_negative_iat_or_exp(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    """iat and exp are non-negative integers: a signed card with a negative one is unreadable,
    not a card issued outside the key's window (KEY_NOT_VALID) or expired (EXPIRED)."""
    key, kid = card_key(city, NOW)
    text = issue().text

    def negative_iat(claims: dict) -> None:
        claims[6] = -1

    def negative_exp(claims: dict) -> None:
        claims[4] = -(2**40)

    for mutate in (negative_iat, negative_exp):
        decision = verify_card(resign(text, key, kid, mutate), trust_of(), NOW, gate)
        assert decision.reason is Reason.MALFORMED
        assert decision.card is None


def test_trust_stale_not_expired_when_the_clock_is_years_ahead(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    """By a clock six years ahead both the card and the trust data are long expired: the
    kiosk cannot trust its clock or its data, so the answer is "can't check", never a card
    fault, at a gate and at a counter past its grace period alike."""
    card, trust = issue(), trust_of()  # card valid five years, bundle 30 days, lists 2 days
    ahead = NOW + 6 * YEAR_S
    assert ahead - gate.skew_s > card.expires_at
    assert verify_card(card.text, trust, ahead, gate).reason is Reason.TRUST_STALE
    counter = Policy.for_mode("counter", passback_s=0)
    assert verify_card(card.text, trust, ahead, counter).reason is Reason.TRUST_STALE
    # the same card with the clock right is good
    assert verify_card(card.text, trust, NOW, gate).reason is Reason.ACCEPTED


def test_trust_stale_not_yet_valid_card_with_stale_data(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    """A card issued after the kiosk's data expired, read by a clock that is behind it: the
    kiosk's data (and so its clock) can't be relied on, so not NOT_YET_VALID."""
    trust = trust_of(NOW - 40 * DAY_S)  # bundle expired ten days ago
    card = issue(issued_at=NOW + 3600)
    assert verify_card(card.text, trust, NOW, gate).reason is Reason.TRUST_STALE
    assert verify_card(card.text, trust_of(), NOW, gate).reason is Reason.NOT_YET_VALID


def test_expired_card_with_fresh_data_or_within_grace_is_still_expired(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    expired = issue(issued_at=NOW - YEAR_S, expires_at=NOW - 3600).text
    assert verify_card(expired, trust_of(), NOW, gate).reason is Reason.EXPIRED
    counter = Policy.for_mode("counter", passback_s=0)
    stale = trust_of(NOW - 3 * DAY_S)  # its status list expired a day ago: within grace
    assert verify_card(expired, stale, NOW, counter).reason is Reason.EXPIRED
    # past the grace period the counter can't check any more: not the card's fault
    late = NOW + counter.stale_grace_s
    assert verify_card(expired, stale, late, counter).reason is Reason.TRUST_STALE
    assert verify_card(expired, stale, NOW, gate).reason is Reason.TRUST_STALE
