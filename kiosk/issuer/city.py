"""A city's issuing authority kept in one directory.

    city.json             issuer id, status list base uri, list size, bundle version, roots
    keys/<kid>.json       public half and validity window of every key (root, card, status)
    keys/<kid>.seed       the private Ed25519 seed, hex, mode 0600
    status/<name>.bits    the raw status array of each list (2 bits per card)
    status/<name>.used    which slots are taken (1 bit per slot)
    issued.jsonl          serial, list and slot of every card: no names, no birth dates

Status indexes are drawn at random from lists of at least 131,072 slots (herd privacy: a
list reveals nothing about issue order, and a kiosk fetching it reveals nothing about whom
it checked). A new list is opened once half of the current one is taken.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
from nacl.signing import SigningKey

from kiosk.core.base45 import b45encode
from kiosk.core.card import CLAIM_CARD, CLAIM_CTI, CLAIM_STATUS, PREFIX
from kiosk.core.cose import ed25519_protected, encode_sign1, kid_for
from kiosk.core.errors import ConfigError
from kiosk.core.statuslist import MIN_SLOTS, Status, StatusList
from kiosk.core.trust import (
    CLAIM_EXP,
    CLAIM_IAT,
    CLAIM_ISS,
    CLAIM_STATUS_LIST,
    CLAIM_SUB,
    CLAIM_TTL,
    STATUS_LIST_TYP,
)
from kiosk.core.trust_state import atomic_write

YEAR_S = 365 * 24 * 3600
DAY_S = 24 * 3600
STATUS_BITS = 2  # 0 valid, 1 revoked, 2 suspended


@dataclass(frozen=True)
class KeyRecord:
    kid: bytes
    use: str  # "root" | "card" | "status"
    public_key: bytes
    nbf: int
    exp: int

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid.hex(),
            "use": self.use,
            "pk": self.public_key.hex(),
            "nbf": self.nbf,
            "exp": self.exp,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(
            bytes.fromhex(data["kid"]),
            data["use"],
            bytes.fromhex(data["pk"]),
            int(data["nbf"]),
            int(data["exp"]),
        )


@dataclass(frozen=True)
class Holder:
    name: str
    dob: str
    gender: str | None = None
    lang: str | None = None
    benefits: tuple[str, ...] = ()
    role: str = "resident"
    specimen: bool = False

    def claim(self) -> dict[str, Any]:
        card: dict[str, Any] = {"v": 1, "name": self.name, "dob": self.dob}
        if self.gender:
            card["gender"] = self.gender
        if self.lang:
            card["lang"] = self.lang
        if self.benefits:
            card["ben"] = list(self.benefits)
        if self.role != "resident":
            card["role"] = self.role
        if self.specimen:
            card["specimen"] = True
        return card


@dataclass(frozen=True)
class IssuedCard:
    text: str
    serial: bytes
    status_uri: str
    status_idx: int
    issued_at: int
    expires_at: int


class City:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.meta: dict[str, Any] = json.loads((self.path / "city.json").read_text())
        except FileNotFoundError:
            raise ConfigError(f"{self.path}: no city here (run `kiosk-issuer init`)") from None

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: Path,
        issuer: str,
        status_base_uri: str,
        now: int,
        list_size: int = MIN_SLOTS,
        card_gender: bool = False,
        display_name: str | None = None,
    ) -> City:
        path = Path(path)
        if (path / "city.json").exists():
            raise ConfigError(f"{path}: a city already exists here")
        if list_size < MIN_SLOTS:
            raise ConfigError(f"status lists need at least {MIN_SLOTS} slots (herd privacy)")
        (path / "keys").mkdir(parents=True, exist_ok=True)
        (path / "status").mkdir(exist_ok=True)
        meta = {
            "issuer": issuer,
            "status_base_uri": status_base_uri,
            "list_size": list_size,
            "bundle_version": 0,
            "revoked_kids": [],
            "lists": [],
            "root": None,
            "next_root": None,
            # Anyone's phone can read a QR code: a card carries only what kiosks use, and the
            # gender only where the city prints it on the card too (holders see what it says).
            "card_gender": card_gender,
            "display_name": display_name or issuer,  # printed on cards
        }
        atomic_write(path / "city.json", json.dumps(meta, indent=1).encode())
        city = cls(path)
        city.meta["root"] = city.new_key("root", now, now + 20 * YEAR_S).kid.hex()
        city.new_key("card", now, now + 5 * YEAR_S)
        city.new_key("status", now, now + 5 * YEAR_S)
        city._open_list()
        city._save()
        return city

    def _save(self) -> None:
        atomic_write(self.path / "city.json", json.dumps(self.meta, indent=1).encode())

    # -- keys ----------------------------------------------------------------------------

    def new_key(self, use: str, nbf: int, exp: int) -> KeyRecord:
        signing = SigningKey.generate()
        public = bytes(signing.verify_key)
        record = KeyRecord(kid_for(public), use, public, nbf, exp)
        seed_path = self.path / "keys" / f"{record.kid.hex()}.seed"
        fd = os.open(seed_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(bytes(signing).hex() + "\n")
        self._write_record(record)
        return record

    def _write_record(self, record: KeyRecord) -> None:
        data = json.dumps(record.to_json(), indent=1).encode()
        atomic_write(self.path / "keys" / f"{record.kid.hex()}.json", data)

    def key_records(self) -> list[KeyRecord]:
        return sorted(
            (KeyRecord.from_json(json.loads(p.read_text())) for p in self.path.glob("keys/*.json")),
            key=lambda k: (k.use, k.nbf, k.kid),
        )

    def record(self, kid: bytes) -> KeyRecord:
        try:
            text = (self.path / "keys" / f"{kid.hex()}.json").read_text()
        except FileNotFoundError:
            raise ConfigError(f"no key {kid.hex()} in {self.path}") from None
        return KeyRecord.from_json(json.loads(text))

    def signing_key(self, kid: bytes) -> SigningKey:
        seed = (self.path / "keys" / f"{kid.hex()}.seed").read_text().strip()
        return SigningKey(bytes.fromhex(seed))

    def active_key(self, use: str, now: int) -> KeyRecord:
        revoked = set(self.meta["revoked_kids"])
        usable = [
            k
            for k in self.key_records()
            if k.use == use and k.kid.hex() not in revoked and k.nbf <= now <= k.exp
        ]
        if not usable:
            raise ConfigError(f"no valid {use} key now: run `kiosk-issuer rotate {use}`")
        return max(usable, key=lambda k: k.nbf)

    @property
    def root(self) -> KeyRecord:
        return self.record(bytes.fromhex(self.meta["root"]))

    def rotate(self, use: str, now: int, lifetime_s: int = 5 * YEAR_S) -> KeyRecord:
        """A new signing key; the old one stops covering anything issued from now on.

        Cards and lists the old key signed stay valid: key validity bounds `iat`, not the
        moment of verification.
        """
        if use == "root":
            if self.meta.get("next_root"):
                raise ConfigError("a next root is already announced: promote it first")
            record = self.new_key("root", now, now + 20 * YEAR_S)
            self.meta["next_root"] = record.kid.hex()
            self._save()
            return record
        for old in self.key_records():
            if old.use == use and old.exp > now:
                self._write_record(KeyRecord(old.kid, old.use, old.public_key, old.nbf, now - 1))
        return self.new_key(use, now, now + lifetime_s)

    def promote_root(self) -> KeyRecord:
        """Sign from now on with the root announced in earlier bundles' next_roots."""
        if not self.meta.get("next_root"):
            raise ConfigError("no next root announced: run `kiosk-issuer rotate root` first")
        self.meta["root"], self.meta["next_root"] = self.meta["next_root"], None
        self._save()
        return self.root

    def revoke_key(self, kid: bytes) -> None:
        record = self.record(kid)
        if record.use == "root":
            # Bundles carry revoked card and status keys; kiosks trust a root only through
            # their pins, so a root is retired by rotating away from it and un-pinning it.
            raise ConfigError(
                f"{kid.hex()} is a root key: a root is not revoked in bundles. If it is the "
                "current root, rotate the root first (`kiosk-issuer rotate root`, publish a "
                "bundle, `rotate root --promote`), then have technicians remove the old root "
                "from every kiosk's pins (docs/city-guide.md, compromise recovery)"
            )
        if kid.hex() not in self.meta["revoked_kids"]:
            self.meta["revoked_kids"].append(kid.hex())
            self._save()

    # -- status lists --------------------------------------------------------------------

    def _open_list(self) -> str:
        name = str(len(self.meta["lists"]) + 1)
        size = int(self.meta["list_size"])
        atomic_write(self._list_file(name, "bits"), bytes(size * STATUS_BITS // 8))
        atomic_write(self._list_file(name, "used"), bytes(size // 8))
        self.meta["lists"].append(name)
        self._save()
        return name

    def _list_file(self, name: str, kind: str) -> Path:
        return self.path / "status" / f"{name}.{kind}"

    def list_uri(self, name: str) -> str:
        return f"{self.meta['status_base_uri']}{name}"

    def list_name(self, uri_or_name: str) -> str:
        base = self.meta["status_base_uri"]
        name = uri_or_name[len(base) :] if uri_or_name.startswith(base) else uri_or_name
        if name not in self.meta["lists"]:
            raise ConfigError(f"no status list {uri_or_name!r} in this city")
        return name

    def statuses(self, name: str) -> StatusList:
        return StatusList(STATUS_BITS, bytearray(self._list_file(name, "bits").read_bytes()))

    def _allocate(self) -> tuple[str, int]:
        name = self.meta["lists"][-1]
        used = StatusList(1, bytearray(self._list_file(name, "used").read_bytes()))
        if used.count(1) * 2 >= used.size:
            name = self._open_list()
            used = StatusList(1, bytearray(self._list_file(name, "used").read_bytes()))
        while True:
            idx = secrets.randbelow(used.size)
            if used.status(idx) == 0:
                break
        used.set(idx, 1)
        atomic_write(self._list_file(name, "used"), used.to_bytes())
        return name, idx

    def set_status(self, list_ref: str, idx: int, status: Status) -> None:
        name = self.list_name(list_ref)
        statuses = self.statuses(name)
        if not 0 <= idx < statuses.size:
            raise ConfigError(f"index {idx} is outside list {name} ({statuses.size} slots)")
        used = StatusList(1, bytearray(self._list_file(name, "used").read_bytes()))
        if used.status(idx) == 0:
            raise ConfigError(
                f"slot {idx} of list {name} belongs to no card: check the index (printed at "
                "issue) or use --serial"
            )
        current = statuses.status(idx)
        if current == Status.REVOKED and status != Status.REVOKED:
            raise ConfigError(f"slot {idx} of list {name} is revoked; revocation is permanent")
        statuses.set(idx, int(status))
        atomic_write(self._list_file(name, "bits"), statuses.to_bytes())

    def find_serial(self, serial: bytes) -> tuple[str, int]:
        with open(self.path / "issued.jsonl") as registry:
            for line in registry:
                entry = json.loads(line)
                if entry["serial"] == serial.hex():
                    return entry["list"], entry["idx"]
        raise ConfigError(f"no card with serial {serial.hex()} was issued here")

    def status_list_token(
        self, name: str, now: int, valid_s: int = 2 * DAY_S, ttl_s: int = DAY_S
    ) -> bytes:
        _positive(valid_s, "status list validity")
        _positive(ttl_s, "status list ttl")
        name = self.list_name(name)
        key = self.active_key("status", now)
        claims = {
            CLAIM_SUB: self.list_uri(name),
            CLAIM_ISS: self.meta["issuer"],
            CLAIM_IAT: now,
            CLAIM_EXP: now + valid_s,
            CLAIM_TTL: ttl_s,
            CLAIM_STATUS_LIST: {"bits": STATUS_BITS, "lst": self.statuses(name).compressed()},
        }
        protected = ed25519_protected(key.kid, typ=STATUS_LIST_TYP)
        return encode_sign1(protected, cbor2.dumps(claims), self.signing_key(key.kid))

    # -- cards ---------------------------------------------------------------------------

    def issue(
        self,
        holder: Holder,
        now: int,
        valid_s: int = 5 * YEAR_S,
        issued_at: int | None = None,
        expires_at: int | None = None,
    ) -> IssuedCard:
        if holder.gender and not self.meta.get("card_gender", False):
            raise ConfigError(
                "this city does not put a gender on its cards: kiosks never use it, and the "
                "QR code would carry it unseen (`kiosk-issuer init --card-gender` for a city "
                "that prints it on the card)"
            )
        iat = now if issued_at is None else issued_at
        if expires_at is None:
            _positive(valid_s, "card validity")
        exp = iat + valid_s if expires_at is None else expires_at
        key = self.active_key("card", iat)
        name, idx = self._allocate()
        serial = secrets.token_bytes(12)
        claims = {
            CLAIM_ISS: self.meta["issuer"],
            CLAIM_IAT: iat,
            CLAIM_EXP: exp,
            CLAIM_CTI: serial,
            CLAIM_STATUS: {"status_list": {"idx": idx, "uri": self.list_uri(name)}},
            CLAIM_CARD: holder.claim(),
        }
        text = sign_card(claims, self.signing_key(key.kid), key.kid)
        entry = {"serial": serial.hex(), "list": name, "idx": idx, "iat": iat, "exp": exp}
        with open(self.path / "issued.jsonl", "a") as registry:
            registry.write(json.dumps(entry) + "\n")
        return IssuedCard(text, serial, self.list_uri(name), idx, iat, exp)

    # -- bundles -------------------------------------------------------------------------

    def bundle(
        self,
        now: int,
        valid_s: int = 30 * DAY_S,
        with_status_lists: bool = True,
        list_valid_s: int = 2 * DAY_S,
    ) -> bytes:
        """Sign the next trust bundle (version + 1) with the current root."""
        _positive(valid_s, "bundle validity")
        _positive(list_valid_s, "status list validity")
        self.meta["bundle_version"] += 1
        keys = [k for k in self.key_records() if k.use in ("card", "status")]
        payload: dict[str, Any] = {
            "v": 1,
            "issuer": self.meta["issuer"],
            "version": self.meta["bundle_version"],
            "issued_at": now,
            "expires_at": now + valid_s,
            "keys": [
                {"kid": k.kid, "pk": k.public_key, "use": k.use, "nbf": k.nbf, "exp": k.exp}
                for k in keys
            ],
        }
        if self.meta["revoked_kids"]:
            payload["revoked_kids"] = [bytes.fromhex(k) for k in self.meta["revoked_kids"]]
        if with_status_lists:
            payload["status_lists"] = [
                self.status_list_token(n, now, list_valid_s) for n in self.meta["lists"]
            ]
        if self.meta.get("next_root"):
            payload["next_roots"] = [self.record(bytes.fromhex(self.meta["next_root"])).public_key]
        root = self.root
        signed = encode_sign1(
            ed25519_protected(root.kid), cbor2.dumps(payload), self.signing_key(root.kid)
        )
        self._save()
        return signed


def _positive(seconds: int, what: str) -> None:
    # Data that is expired when signed would only ever be refused (or, worse, replace good data).
    if seconds <= 0:
        raise ConfigError(f"{what} must be more than zero")


def sign_card(claims: dict[int, Any], key: SigningKey, kid: bytes) -> str:
    """Claims -> QR text. Separate from `City.issue` so tests can sign unusual claims."""
    cose = encode_sign1(ed25519_protected(kid), cbor2.dumps(claims), key)
    return PREFIX + b45encode(cose)
