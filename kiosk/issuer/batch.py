"""`kiosk-issuer issue-batch`: every row of a residents CSV checked before any card is signed.

A card that every kiosk would refuse (a birth date as `01/02/1990`, a language no kiosk
offers, `library;museum` as one benefit, a typo'd benefit code) must never be signed:
the holder would find out at the door. So the whole file is read and checked first; any
problem is reported with its row and column, and nothing is signed.

The format (docs/city-guide.md, config/residents.example.csv):

    name,dob,lang,benefits,role
    Ana Sofía Reyes,1991-03-14,es,library museum,
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from kiosk.core.card import MAX_NAME_LENGTH, ROLES
from kiosk.core.errors import ConfigError
from kiosk.issuer.city import Holder
from kiosk.ui.i18n import LANGUAGES

COLUMNS = ("name", "dob", "lang", "benefits", "gender", "role")
REQUIRED = ("name", "dob")
# The benefit codes kiosks know by name (kiosk/ui/strings.py BENEFIT_NAMES); a city may
# declare its own list in city.json ("benefits").
DEFAULT_BENEFITS = ("library", "museum", "pharmacy", "parks", "transit", "zoo")
MAX_PROBLEMS = 20


def _problems_of(
    row: dict[str, str], benefits: frozenset[str], gender_ok: bool, today: date
) -> Iterable[tuple[str, str]]:
    name = row.get("name") or ""
    if not name.strip():
        yield "name", "is empty"
    elif len(name) > MAX_NAME_LENGTH:
        yield "name", f"is over {MAX_NAME_LENGTH} characters"
    elif any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        yield "name", "holds control characters"
    dob = row.get("dob") or ""
    try:
        born = date.fromisoformat(dob) if len(dob) == 10 and dob[4] == "-" else None
    except ValueError:
        born = None
    if born is None:
        yield "dob", f"{dob!r} is not a date as YYYY-MM-DD (e.g. 1990-02-01)"
    elif born > today:
        yield "dob", f"{dob} is in the future"
    lang = (row.get("lang") or "").strip()
    if lang and lang.lower() not in {x.code.lower() for x in LANGUAGES}:
        offered = ", ".join(x.code for x in LANGUAGES)
        yield "lang", f"{lang!r} is not a language kiosks offer ({offered})"
    codes = (row.get("benefits") or "").split()
    if any(sep in (row.get("benefits") or "") for sep in ",;|"):
        yield "benefits", "separate benefit codes with spaces, e.g. 'library museum'"
    else:
        for code in codes:
            if code not in benefits:
                yield (
                    "benefits",
                    f"{code!r} is not one of the city's codes ({', '.join(sorted(benefits))})",
                )
    if (row.get("gender") or "").strip() and not gender_ok:
        yield "gender", "this city does not put a gender on its cards (see --card-gender)"
    role = (row.get("role") or "").strip()
    if role and role not in ROLES:
        yield "role", f"{role!r} is not one of {', '.join(ROLES)}"


def read_holders(
    path: Path, *, benefits: Iterable[str], gender_ok: bool, today: date, specimen: bool
) -> list[Holder]:
    """Every row as a Holder, or a ConfigError listing each problem by row and column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as src:
            reader = csv.DictReader(src)
            header = [h.strip() for h in reader.fieldnames or []]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read as CSV ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        raise ConfigError(
            f"{path}: the header must name the columns {', '.join(COLUMNS[:4])}"
            f" (and optionally gender, role); missing: {', '.join(missing) or 'none'}, "
            f"unknown: {', '.join(unknown) or 'none'}"
        )
    known = frozenset(benefits)
    problems, holders = [], []
    for number, raw in enumerate(rows, start=2):  # row 1 is the header
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        found = [
            f"row {number}, column {c}: {why}"
            for c, why in _problems_of(row, known, gender_ok, today)
        ]
        problems += found
        if not found:
            lang = row.get("lang") or None
            code = next(
                (x.code for x in LANGUAGES if lang and x.code.lower() == lang.lower()), None
            )
            holders.append(
                Holder(
                    name=unicodedata.normalize("NFC", row["name"]),
                    dob=row["dob"],
                    lang=code,
                    benefits=tuple(row.get("benefits", "").split()),
                    gender=row.get("gender") or None,
                    role=row.get("role") or "resident",
                    specimen=specimen,
                )
            )
    if not rows:
        raise ConfigError(f"{path}: no rows after the header")
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise ConfigError(
            f"{path}: nothing was signed; fix {len(problems)} problem(s){more}:\n  "
            + "\n  ".join(shown)
        )
    return holders
