"""From a verification decision to the result screen: which outcome, which language, and
what of the holder the mode may show. The only place where card claims reach the UI."""

from __future__ import annotations

from kiosk.core.decision import Decision
from kiosk.core.policy import Mode, Policy, Refusals
from kiosk.core.reasons import Reason
from kiosk.ui.i18n import ENGLISH, Language, match_language
from kiosk.ui.screens import Frame, Result, Staff
from kiosk.ui.theme import Outcome


def outcome_of(reason: Reason) -> Outcome:
    if reason is Reason.ACCEPTED:
        return Outcome.ACCEPTED
    if reason is Reason.TRUST_STALE:
        return Outcome.CANT_CHECK  # the kiosk's data is old: never shown as a bad card
    return Outcome.REJECTED


def result_screen(
    decision: Decision,
    policy: Policy,
    now: int,
    *,
    languages: tuple[Language, ...],
    fallback: Language,
    frame: Frame,
    staff_language: Language = ENGLISH,
    pass_printed: bool = False,
    seconds_left: int = 0,
) -> Result:
    card = decision.card  # set only when the signature verified
    language = (match_language(card.lang, languages) if card else None) or fallback
    counter = policy.mode is Mode.COUNTER
    staff = None
    if counter and card is not None and decision.accepted:
        view = policy.holder_view(card, now)
        flags = tuple(view.age_flags)
        under = min(policy.age_flags) if "age_flags" in policy.show and not flags else None
        staff = Staff(
            name=view.name,
            age_flags=flags,
            under=under,
            benefits=view.benefits,
            dob=card.dob if view.dob else None,
            valid_until=view.valid_until,
        )
    specimen = frame.specimen or decision.specimen
    return Result(
        outcome=outcome_of(decision.reason),
        reason=decision.reason,
        language=language,
        counter=counter,
        staff=staff,
        pass_printed=pass_printed,
        stale_warning=Reason.TRUST_STALE in decision.warnings,
        discreet=policy.refusals is Refusals.DISCREET,
        seconds_left=seconds_left,
        frame=Frame(site=frame.site, specimen=specimen),
        staff_language=staff_language,
    )
