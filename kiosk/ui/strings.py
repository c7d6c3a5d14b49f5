"""Every sentence the screens show, in English; the catalogs under assets/locale translate them.

Strings are marked with ``N_`` (gettext_noop) so ``pybabel extract`` finds them and the
screens look them up at draw time in the language being shown. Plural sentences are
``(singular, plural)`` pairs marked with ``NP_`` and looked up with ngettext.
"""

from __future__ import annotations

from kiosk.core.reasons import Reason


def N_(message: str) -> str:
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    return singular, plural


# Idle
IDLE_TITLE = N_("Show your city ID card")
IDLE_HOLD = N_("Hold the QR code on your card up to the camera.")
IDLE_STILL = N_("Keep the card still for a moment.")
LANGUAGE = N_("Language")
CHOOSE_LANGUAGE = N_("Choose your language")

# Reading
READING = N_("Reading your card…")
HOLD_STILL = N_("Hold still")

# Accepted
WELCOME = N_("Welcome")
GO_THROUGH = N_("Please go through.")
VALID_CARD = N_("Valid card")
TAKE_PASS = N_("Please take your pass.")
STALE_WARNING = N_("This kiosk's data is out of date: staff, please check the card by eye.")

# Rejected and can't check
NOT_ACCEPTED = N_("Not accepted")
CANT_CHECK = N_("Can't check")
CANT_CHECK_WHY = N_("This kiosk cannot check cards right now.")
CANT_CHECK_NOT_YOU = N_("This is not a problem with your card.")
SEE_STAFF = N_("Please see staff.")

# Out of service
OUT_OF_SERVICE = N_("Out of service")
CAMERA_PROBLEM = N_("The camera is not working.")
GATE_PROBLEM = N_("The gate is not working.")
PRINTER_PROBLEM = N_("The pass printer is not working.")
TRUST_PROBLEM = N_("This kiosk has no card data to check cards with.")
SORRY = N_("Sorry for the trouble.")

# Counter view (staff)
NAME = N_("Name")
AGE_18 = N_("18 or older")
AGE_21 = N_("21 or older")
UNDER_18 = N_("Under 18")
AGE_N = N_("{n} or older")  # other configured age flags
UNDER_N = N_("Under {n}")
BORN = N_("Born {date}")
VALID_UNTIL = N_("Valid until {date}")
BENEFITS = NP_("{n} benefit", "{n} benefits")
NO_BENEFITS = N_("No benefits on this card")
BACK_TO_START = NP_("Back to the start in {n} second", "Back to the start in {n} seconds")

# Specimen
SPECIMEN = N_("SPECIMEN")
SPECIMEN_NOTE = N_("Training card: not valid for real use.")

# Technician menu
TECHNICIAN_MENU = N_("Technician menu")
ENTER_PIN = N_("Enter PIN")
DIAGNOSTICS = N_("Diagnostics")
CAMERA_VIEW = N_("Camera view")
TEST_GATE = N_("Test gate")
TEST_PRINT = N_("Test print")
TRUST_STATUS = N_("Trust status")
LANGUAGE_AND_MODE = N_("Language and mode")
VOLUME = N_("Volume")
EXPORT_DIAGNOSTICS = N_("Export diagnostics")
EXIT = N_("Exit")

TECHNICIAN_ITEMS = (
    DIAGNOSTICS,
    CAMERA_VIEW,
    TEST_GATE,
    TEST_PRINT,
    TRUST_STATUS,
    LANGUAGE_AND_MODE,
    VOLUME,
    EXPORT_DIAGNOSTICS,
    EXIT,
)

BENEFIT_NAMES: dict[str, str] = {
    "library": N_("Library"),
    "museum": N_("Museums"),
    "pharmacy": N_("Pharmacy"),
    "parks": N_("Parks and pools"),
    "transit": N_("Transit"),
    "zoo": N_("Zoo"),
}

# Refusals that say something about the holder (their card is cancelled, on hold, expired,
# not for this site, just used): at a gate they are discreet by default ([policy] refusals).
ABOUT_THE_HOLDER = frozenset(
    {
        Reason.EXPIRED,
        Reason.NOT_YET_VALID,
        Reason.REVOKED,
        Reason.SUSPENDED,
        Reason.POLICY_DENIED,
        Reason.PASSBACK,
    }
)

# What happened, and what to do next, for each refusal.
REASON_TEXT: dict[Reason, tuple[str, str]] = {
    Reason.MALFORMED: (
        N_("This is not a city ID card, or its code is damaged."),
        N_("Please try again, or see staff."),
    ),
    Reason.UNSUPPORTED: (
        N_("This kiosk cannot read this kind of card."),
        SEE_STAFF,
    ),
    Reason.UNKNOWN_KEY: (N_("This card could not be recognised here."), SEE_STAFF),
    Reason.BAD_SIGNATURE: (N_("This card could not be verified."), SEE_STAFF),
    Reason.KEY_NOT_VALID: (N_("This card could not be verified."), SEE_STAFF),
    Reason.WRONG_ISSUER: (N_("This card is from another city."), SEE_STAFF),
    Reason.NOT_YET_VALID: (N_("This card is not valid yet."), SEE_STAFF),
    Reason.EXPIRED: (N_("This card has expired."), N_("Please see staff to renew it.")),
    Reason.REVOKED: (N_("This card has been cancelled."), SEE_STAFF),
    Reason.SUSPENDED: (N_("This card is on hold."), SEE_STAFF),
    Reason.TRUST_STALE: (CANT_CHECK_WHY, CANT_CHECK_NOT_YOU),
    Reason.POLICY_DENIED: (N_("This card does not give entry here."), SEE_STAFF),
    Reason.PASSBACK: (
        N_("This card was just used here."),
        N_("Please wait a moment, or see staff."),
    ),
}
