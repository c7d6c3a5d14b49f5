"""The kiosk's trust data on disk: atomic storage, rollback refusal, last good kept.

Layout of the state directory:

    state.json           trusted successor roots, clock floor, issuer
    bundle.cose          the newest accepted trust bundle, exactly as signed
    lists/<hash>.cwt     the newest accepted status list per uri

Everything is re-verified when loaded, so a damaged file is noticed, never trusted. Every
write goes to a temporary file, is fsynced, then renamed over the old one: a crash or power
cut at any moment leaves either the old or the new file, never half of one. `state.json`
is written (with the union of old and new roots) before the bundle it vouches for, so the
stored bundle always verifies whatever the moment of a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.cose import HDR_TYP, CoseError, decode_sign1
from kiosk.errors import TrustError
from kiosk.trust import (
    MAX_BUNDLE_BYTES,
    STATUS_LIST_TYP,
    Bundle,
    StatusListToken,
    TrustStore,
    parse_bundle,
    parse_status_list_token,
)

BUNDLE_FILE = "bundle.cose"
STATE_FILE = "state.json"
LISTS_DIR = "lists"
TMP_MARK = ".tmp-"


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_limited(path: Path, limit: int = MAX_BUNDLE_BYTES) -> bytes:
    """Read a trust file a technician brought, refusing anything over `limit` bytes."""
    try:
        with open(path, "rb") as src:
            data = src.read(limit + 1)
    except OSError as exc:
        raise TrustError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > limit:
        raise TrustError(f"{path}: larger than {limit} bytes, refused")
    return data


def is_status_list(data: bytes) -> bool:
    try:
        return decode_sign1(data).protected.get(HDR_TYP) == STATUS_LIST_TYP
    except CoseError:
        return False


@dataclass(frozen=True)
class ImportResult:
    kind: str  # "bundle" | "status list"
    installed: bool  # False: the same object was already installed
    summary: str


class TrustState:
    def __init__(self, state_dir: Path, pinned_roots: Sequence[bytes]) -> None:
        if not pinned_roots:
            raise TrustError("no pinned root key: set trust.root_keys (or --root-key)")
        self.dir = Path(state_dir)
        self.pinned = tuple(pinned_roots)

    # -- reading -------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        try:
            meta = json.loads((self.dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise TrustError(f"{self.dir / STATE_FILE}: unreadable ({exc})") from None
        return meta if isinstance(meta, dict) else {}

    def _successor_roots(self) -> list[bytes]:
        """Roots vouched for by the installed bundle (its signer and its next_roots)."""
        roots = []
        for hex_key in self._meta().get("roots", []):
            with contextlib.suppress(ValueError, TypeError):
                roots.append(bytes.fromhex(hex_key))
        return roots

    def trusted_roots(self) -> tuple[bytes, ...]:
        return tuple(dict.fromkeys([*self.pinned, *self._successor_roots()]))

    def bundle(self) -> Bundle | None:
        path = self.dir / BUNDLE_FILE
        if not path.exists():
            return None
        try:
            return parse_bundle(read_limited(path), self.trusted_roots())
        except TrustError as exc:
            raise TrustError(f"stored bundle {path} is not trusted: {exc}") from None

    def _list_path(self, uri: str) -> Path:
        return self.dir / LISTS_DIR / (hashlib.sha256(uri.encode()).hexdigest()[:32] + ".cwt")

    def _stored_list_files(self) -> list[Path]:
        folder = self.dir / LISTS_DIR
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.glob("*.cwt") if TMP_MARK not in p.name)

    def load(self) -> TrustStore | None:
        """The verified trust store, or None when no bundle was ever installed."""
        bundle = self.bundle()
        if bundle is None:
            return None
        tokens = []
        for path in self._stored_list_files():
            with contextlib.suppress(TrustError):
                tokens.append(read_limited(path))
        floor = int(self._meta().get("clock_floor", 0))
        return TrustStore.build(bundle, tokens, clock_floor=floor)

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / LISTS_DIR).mkdir(exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_meta(self, roots: Sequence[bytes], issuer: str, floor: int) -> None:
        meta = {
            "roots": [r.hex() for r in dict.fromkeys(roots)],
            "issuer": issuer,
            "clock_floor": max(floor, int(self._meta().get("clock_floor", 0))),
        }
        atomic_write(self.dir / STATE_FILE, json.dumps(meta, indent=1).encode())

    def import_bytes(self, data: bytes) -> list[ImportResult]:
        if is_status_list(data):
            return [self.import_status_list(data)]
        return self.import_bundle(data)

    def import_bundle(self, data: bytes) -> list[ImportResult]:
        with self._locked():
            current = self.bundle()
            new = parse_bundle(data, self.trusted_roots())
            if current is not None:
                if new.issuer != current.issuer:
                    raise TrustError(
                        f"trust bundle: issuer {new.issuer!r} differs from {current.issuer!r}"
                    )
                if new.version < current.version:
                    raise TrustError(
                        f"trust bundle: version {new.version} is older than the installed "
                        f"{current.version} (rollback refused)"
                    )
                if new.version == current.version:
                    if new.raw != current.raw:
                        raise TrustError(
                            f"trust bundle: a different bundle with version {new.version} "
                            "is already installed"
                        )
                    return [ImportResult("bundle", False, f"version {new.version} already")]
            vouched = [new.signer, *new.next_roots]
            self._write_meta([*self._successor_roots(), *vouched], new.issuer, new.issued_at)
            atomic_write(self.dir / BUNDLE_FILE, data)
            self._write_meta(vouched, new.issuer, new.issued_at)
            results = [ImportResult("bundle", True, _describe_bundle(new))]
            for raw in new.status_list_tokens:
                with contextlib.suppress(TrustError):
                    results.append(self._install_list(raw, new))
            return results

    def import_status_list(self, data: bytes) -> ImportResult:
        with self._locked():
            bundle = self.bundle()
            if bundle is None:
                raise TrustError("status list: install a trust bundle first")
            return self._install_list(data, bundle)

    def _install_list(self, data: bytes, bundle: Bundle) -> ImportResult:
        token = parse_status_list_token(data, bundle)
        path = self._list_path(token.uri)
        held = self._held_list(path, bundle)
        if held is not None:
            if token.issued_at < held.issued_at:
                raise TrustError(
                    f"status list {token.uri}: issued before the installed one (rollback refused)"
                )
            if token.issued_at == held.issued_at:
                if token.raw != held.raw:
                    raise TrustError(
                        f"status list {token.uri}: a different list with the same iat is installed"
                    )
                return ImportResult("status list", False, f"{token.uri} already installed")
        self._write_meta(self._successor_roots(), bundle.issuer, token.issued_at)
        atomic_write(path, data)
        return ImportResult("status list", True, _describe_list(token))

    def _held_list(self, path: Path, bundle: Bundle) -> StatusListToken | None:
        if not path.exists():
            return None
        try:
            return parse_status_list_token(read_limited(path), bundle)
        except TrustError:
            return None  # a list the current bundle no longer trusts: replace it

    def clean_temporary_files(self) -> int:
        """Remove leftovers of writes interrupted by a crash. Returns how many."""
        removed = 0
        for folder in (self.dir, self.dir / LISTS_DIR):
            if folder.is_dir():
                for leftover in folder.glob(f".*{TMP_MARK}*"):
                    leftover.unlink(missing_ok=True)
                    removed += 1
        return removed


def _describe_bundle(bundle: Bundle) -> str:
    return (
        f"bundle of {bundle.issuer} version {bundle.version}: {len(bundle.keys)} keys, "
        f"{len(bundle.revoked_kids)} revoked, {len(bundle.status_list_tokens)} status lists"
    )


def _describe_list(token: StatusListToken) -> str:
    return f"status list {token.uri} ({token.statuses.size} slots, {token.statuses.bits} bit)"
