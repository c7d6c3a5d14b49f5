"""The kiosk's trust data on disk: pinned roots decide, floors refuse rollback, files verify.

Layout of the state directory:

    bundles/<root>.cose  the newest accepted bundle signed by each root, exactly as signed
    lists/<hash>.cwt     the newest accepted status list per uri
    state.json           rollback floors: a version and date per root, a date per list uri

**The pins in the configuration are the only source of root trust.** Every load starts from
them and walks the stored bundles: a bundle signed by a trusted root makes the roots in its
`next_roots` trusted, and so on. Nothing on disk vouches for a root by itself, so a root
removed from the pins takes its whole lineage with it at the next load. The installed
bundle is the newest one whose signer is trusted now.

**Floors** (rollback protection and the clock floor) count only for data trusted now: a
root's floor while the root is trusted, a list's while the key that signed it is fit in
the installed bundle. So data from an un-pinned root or a revoked key never blocks good
data. Floors are kept in the signed files and in `state.json` both, so they survive the loss
or damage of either.

Every read refuses symlinks and anything but a regular file under its size cap; every write
goes to an unpredictable temporary name (mkstemp) in the same folder, is fsynced and renamed
over the old file. Writers hold an exclusive `flock` on `.lock` and first remove what a
killed writer left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.core.cose import Sign1, kid_for
from kiosk.core.errors import TrustError
from kiosk.core.trust import (
    MAX_BUNDLE_BYTES,
    MAX_STATUS_LIST_TOKEN_BYTES,
    Bundle,
    StatusListToken,
    TrustStore,
    decode_trust_file,
    parse_bundle,
    parse_status_list_token,
)

BUNDLES_DIR = "bundles"
LISTS_DIR = "lists"
STATE_FILE = "state.json"
LEGACY_BUNDLE_FILE = "bundle.cose"  # before 2026-12: one bundle, roots kept in state.json
TMP_MARK = ".tmp-"
STATE_VERSION = 2
MAX_STATE_BYTES = 1024 * 1024


def _open_regular(path: Path, flags: int = os.O_RDONLY) -> int:
    """An fd of `path` if it is a regular file; never follows a symlink, never blocks."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise TrustError(f"{path}: is a symlink, refused") from None
        raise TrustError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise TrustError(f"{path}: not a regular file, refused")
    return fd


def read_limited(path: Path, limit: int = MAX_BUNDLE_BYTES) -> bytes:
    """Read a trust file, refusing symlinks, FIFOs, devices and anything over `limit` bytes."""
    fd = _open_regular(path)
    try:
        with os.fdopen(fd, "rb") as src:
            data = src.read(limit + 1)
    except OSError as exc:
        raise TrustError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > limit:
        raise TrustError(f"{path}: larger than {limit} bytes, refused")
    return data


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)  # rename replaces a symlink at `path`, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _short(root: bytes) -> str:
    return root.hex()[:16]


def _root_file(root: bytes) -> str:
    return f"{_short(root)}.cose"


# -- state.json: floors, validated field by field ---------------------------------------------


@dataclass
class Floors:
    """Rollback floors as `state.json` keeps them. Not a source of trust: each entry counts
    only while its root (bundles) or its signing key (lists) is trusted."""

    bundles: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # root: version, iat
    lists: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # uri: iat, kid

    def to_json(self) -> bytes:
        meta = {
            "v": STATE_VERSION,
            "bundles": {
                r.hex(): {"version": v, "issued_at": t} for r, (v, t) in self.bundles.items()
            },
            "lists": {u: {"issued_at": t, "kid": k.hex()} for u, (t, k) in self.lists.items()},
        }
        return json.dumps(meta, indent=1, sort_keys=True).encode()

    def raise_bundle(self, root: bytes, version: int, issued_at: int) -> None:
        held = self.bundles.get(root, (0, 0))
        self.bundles[root] = (max(held[0], version), max(held[1], issued_at))

    def raise_list(self, uri: str, issued_at: int, kid: bytes) -> None:
        held = self.lists.get(uri)
        if held is None or issued_at >= held[0]:
            self.lists[uri] = (issued_at, kid)


def _count(value: Any, what: str) -> int:
    # json gives float('nan') and float('inf') for NaN/Infinity: only plain ints pass
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError(f"{what} is not a non-negative integer")
    return value


def _hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise ValueError(f"{what} is not {length} bytes of hex")
    return bytes.fromhex(value)


def parse_floors(data: bytes) -> Floors:
    """`state.json` → Floors; ValueError naming the first field that is wrong."""
    try:
        meta = json.loads(data, parse_constant=lambda name: math.nan)
    except RecursionError:
        raise ValueError("nested too deep") from None
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    if "v" not in meta and "roots" in meta:
        return Floors()  # the layout before 2026-12: it held no floors worth keeping
    if meta.get("v") != STATE_VERSION:
        raise ValueError(f"unknown layout v={meta.get('v')!r}")
    floors = Floors()
    bundles, lists = meta.get("bundles", {}), meta.get("lists", {})
    if not isinstance(bundles, dict) or not isinstance(lists, dict):
        raise ValueError("bundles and lists must be objects")
    for root, entry in bundles.items():
        if not isinstance(entry, dict):
            raise ValueError(f"bundles.{root} is not an object")
        floors.bundles[_hex(root, 32, "a root")] = (
            _count(entry.get("version"), f"bundles.{root}.version"),
            _count(entry.get("issued_at"), f"bundles.{root}.issued_at"),
        )
    for uri, entry in lists.items():
        if not isinstance(entry, dict):
            raise ValueError(f"lists.{uri} is not an object")
        floors.lists[uri] = (
            _count(entry.get("issued_at"), f"lists.{uri}.issued_at"),
            _hex(entry.get("kid"), 8, f"lists.{uri}.kid"),
        )
    return floors


# -- what the pins vouch for now ----------------------------------------------------------------


@dataclass
class Chain:
    """The stored trust data as the pins see it now."""

    trusted: dict[bytes, str]  # root: "pinned" | "announced by <root>"
    bundles: dict[bytes, Bundle]  # signer: its newest stored bundle, signer trusted
    sources: dict[bytes, Path]  # signer: the file its bundle came from
    floors: Floors
    problems: list[str]
    untrusted: list[str]  # stored bundles no trusted root signed

    @property
    def active(self) -> Bundle | None:
        if not self.bundles:
            return None
        return max(self.bundles.values(), key=lambda b: (b.version, b.issued_at))

    @property
    def version_floor(self) -> int:
        floors = [b.version for b in self.bundles.values()]
        floors += [v for r, (v, _) in self.floors.bundles.items() if r in self.trusted]
        return max(floors, default=0)

    def bundle_clock_floor(self) -> int:
        floors = [b.issued_at for b in self.bundles.values()]
        floors += [t for r, (_, t) in self.floors.bundles.items() if r in self.trusted]
        return max(floors, default=0)

    def list_floor(self, uri: str, bundle: Bundle) -> int:
        """The newest `iat` for `uri` that counts: only while its key is fit in `bundle`."""
        held = self.floors.lists.get(uri)
        if held is None:
            return 0
        issued_at, kid = held
        key, _ = bundle.key_fit(kid, "status", issued_at)
        return issued_at if key is not None else 0


def _walk(
    pinned: Sequence[bytes], candidates: Mapping[Path, tuple[bytes, Sign1]]
) -> tuple[dict[bytes, str], dict[bytes, Bundle], dict[bytes, Path], list[Path]]:
    """Trusted roots from the pins through the newest bundle of each trusted signer.

    `candidates` maps each file to its bytes and its decoded envelope. A file is verified
    only against roots of the kid in its protected header (the issuer always writes it),
    so a long chain costs one verification per file and pass, not one per root.
    """
    verified: dict[bytes, tuple[Bundle, Path]] = {}
    known = dict.fromkeys(pinned, "pinned")
    kids = {kid_for(r): r for r in known}
    pending = dict(candidates)
    progress = True
    while progress and pending:
        progress = False
        for path, (data, sign1) in list(pending.items()):
            kid = sign1.kid
            roots = tuple(known) if kid is None else tuple(r for r in (kids.get(kid),) if r)
            if not roots:
                continue  # not (yet) signed by a root we know
            try:
                bundle = parse_bundle(data, roots, sign1=sign1)
            except TrustError:
                continue
            del pending[path]
            progress = True
            held = verified.get(bundle.signer)
            if held is None or bundle.version > held[0].version:
                verified[bundle.signer] = (bundle, path)
            for root in bundle.next_roots:
                known.setdefault(root, f"announced by {_short(bundle.signer)}")
                kids.setdefault(kid_for(root), root)
    # Announcements count only from the newest bundle of a signer that is itself trusted.
    trusted = dict.fromkeys(pinned, "pinned")
    frontier = list(trusted)
    while frontier:
        signer = frontier.pop(0)
        if signer in verified:
            for root in verified[signer][0].next_roots:
                if root not in trusted:
                    trusted[root] = f"announced by {_short(signer)}"
                    frontier.append(root)
    bundles = {s: b for s, (b, _) in verified.items() if s in trusted}
    sources = {s: p for s, (_, p) in verified.items() if s in trusted}
    untrusted = [*pending, *(p for s, (_, p) in verified.items() if s not in trusted)]
    return trusted, bundles, sources, untrusted


@dataclass(frozen=True)
class ImportResult:
    kind: str  # "bundle" | "status list"
    installed: bool  # False: the same object was already installed
    summary: str


class TrustState:
    def __init__(
        self,
        state_dir: Path,
        pinned_roots: Sequence[bytes],
        *,
        skew_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not pinned_roots:
            raise TrustError("no pinned root key: set trust.root_keys (or --root-key)")
        self.dir = Path(state_dir)
        self.pinned = tuple(dict.fromkeys(pinned_roots))
        self.skew_s = skew_s
        self.clock = clock

    # -- reading -------------------------------------------------------------------------

    def _floors(self, problems: list[str]) -> Floors:
        path = self.dir / STATE_FILE
        if not os.path.lexists(path):
            return Floors()
        try:
            return parse_floors(read_limited(path, MAX_STATE_BYTES))
        except TrustError as exc:
            problems.append(f"{STATE_FILE} is damaged ({exc}); floors come from the signed files")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problems.append(f"{STATE_FILE} is damaged ({exc}); floors come from the signed files")
        return Floors()

    def _bundle_paths(self) -> list[Path]:
        paths = _listing(self.dir / BUNDLES_DIR, ".cose")
        legacy = self.dir / LEGACY_BUNDLE_FILE
        return [*paths, legacy] if os.path.lexists(legacy) else paths

    def chain(self) -> Chain:
        problems: list[str] = []
        floors = self._floors(problems)
        candidates: dict[Path, tuple[bytes, Sign1]] = {}
        for path in self._bundle_paths():
            try:
                data = read_limited(path, MAX_BUNDLE_BYTES)
                candidates[path] = (data, decode_trust_file(data)[1])
            except TrustError as exc:
                problems.append(f"stored bundle {path.name!r} is damaged: {exc}")
        trusted, bundles, sources, untrusted = _walk(self.pinned, candidates)
        names = []
        for path in untrusted:
            kid = candidates[path][1].kid
            names.append(f"{path.name!r} (root key id {kid.hex() if kid else 'not named'})")
        for signer, bundle in bundles.items():  # the files' own floors, merged in
            floors.raise_bundle(signer, bundle.version, bundle.issued_at)
        return Chain(trusted, bundles, sources, floors, problems, names)

    def bundle(self) -> Bundle | None:
        return self.chain().active

    def trusted_roots(self) -> tuple[bytes, ...]:
        return tuple(self.chain().trusted)

    def _stored_list_files(self) -> list[Path]:
        return _listing(self.dir / LISTS_DIR, ".cwt")

    def _list_path(self, uri: str) -> Path:
        return self.dir / LISTS_DIR / (hashlib.sha256(uri.encode()).hexdigest()[:32] + ".cwt")

    def load(self) -> TrustStore | None:
        """The verified trust store the pins vouch for now; None when nothing is stored.

        Raises TrustError (one line) when trust data is stored but none of it is usable:
        damaged, or signed by roots that are no longer pinned.
        """
        chain = self.chain()
        problems = list(chain.problems)
        for signer, held in list(chain.bundles.items()):
            floor = chain.floors.bundles.get(signer, (0, 0))[0]
            if held.version < floor:  # the newer file was lost or replaced by an older one
                del chain.bundles[signer]
                problems.append(
                    f"stored bundle v{held.version} of root {_short(signer)} is older than "
                    f"v{floor}, which this kiosk accepted: not used"
                )
        bundle = chain.active
        if bundle is None:
            if chain.untrusted:
                raise TrustError(
                    f"installed trust data ({', '.join(chain.untrusted)}) is signed by a root "
                    f"that is not pinned (pinned: {', '.join(_short(p) for p in self.pinned)}):"
                    " import a bundle signed by a pinned root"
                )
            if problems:
                raise TrustError(f"{problems[0]}: import current trust data to repair")
            return None
        if bundle.version < chain.version_floor:
            raise TrustError(
                f"the stored bundle v{bundle.version} is older than v{chain.version_floor}, "
                "which this kiosk accepted (a newer file was lost or replaced): import current "
                "trust data to repair"
            )
        tokens = []
        for path in self._stored_list_files():
            try:
                tokens.append(read_limited(path, MAX_STATUS_LIST_TOKEN_BYTES))
            except TrustError as exc:
                problems.append(f"stored status list {path.name!r}: {exc}")
        store = TrustStore.build(
            bundle,
            tokens,
            clock_floor=chain.bundle_clock_floor(),
            roots=chain.trusted,
            pinned=self.pinned,
            horizon=int(self.clock()) + self.skew_s,
        )
        problems += store.problems
        lists = {}
        for uri, token in store.lists.items():
            floor = chain.list_floor(uri, bundle)
            if token.issued_at < floor:  # only an older copy is left: can't check its cards
                problems.append(f"status list {uri}: only a copy older than the last one is left")
            else:
                lists[uri] = token
        floors = [chain.list_floor(uri, bundle) for uri in chain.floors.lists]
        floor = max([chain.bundle_clock_floor(), *(t.issued_at for t in lists.values()), *floors])
        return TrustStore(bundle, lists, floor, tuple(problems), store.roots, store.pinned)

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            for folder in (self.dir, self.dir / BUNDLES_DIR, self.dir / LISTS_DIR):
                folder.mkdir(mode=0o755, parents=True, exist_ok=True)
                if (folder.is_symlink() and folder != self.dir) or not folder.is_dir():
                    raise TrustError(f"{folder}: not a folder, refused")
        except FileExistsError:
            raise TrustError(f"{folder}: a file is where a folder belongs, refused") from None
        except OSError as exc:
            raise TrustError(f"{self.dir}: cannot prepare ({exc.strerror})") from None
        fd = _open_regular(self.dir / ".lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.clean_temporary_files()
            yield
        except OSError as exc:
            raise TrustError(f"{self.dir}: cannot write ({exc.strerror or exc})") from None
        finally:
            os.close(fd)  # closing releases the lock

    def _now(self) -> int:
        return int(self.clock())

    def _check_dates(self, what: str, issued_at: int, expires_at: int | None) -> None:
        now = self._now()
        if issued_at > now + self.skew_s:
            raise TrustError(
                f"{what}: from the future (issued {_utc(issued_at)}, the kiosk's clock says "
                f"{_utc(now)}): refused; check the clock"
            )
        if expires_at is not None and expires_at < now:
            raise TrustError(f"{what}: already expired ({_utc(expires_at)}), refused")

    def import_bytes(self, data: bytes) -> list[ImportResult]:
        kind, sign1 = decode_trust_file(data)  # the envelope is decoded once, here
        if kind == "status list":
            return [self.import_status_list(data, sign1=sign1)]
        return self.import_bundle(data, sign1=sign1)

    def import_bundle(self, data: bytes, *, sign1: Sign1 | None = None) -> list[ImportResult]:
        with self._locked():
            chain = self.chain()
            new = parse_bundle(data, tuple(chain.trusted), sign1=sign1)
            what = f"trust bundle version {new.version}"
            self._check_dates(what, new.issued_at, new.expires_at)
            current = chain.active
            if current is not None and new.issuer != current.issuer:
                raise TrustError(
                    f"trust bundle: issuer {new.issuer!r} differs from {current.issuer!r}"
                )
            floor = chain.version_floor
            if new.version < floor:
                raise TrustError(f"{what} is older than the installed {floor} (rollback refused)")
            same = [b for b in chain.bundles.values() if b.version == new.version]
            if any(b.raw == data for b in same):
                results = [ImportResult("bundle", False, f"version {new.version} already")]
                return results + self._install_embedded(new, chain)
            if same:
                raise TrustError(
                    f"trust bundle: a different bundle with version {new.version} is installed"
                )
            self._migrate_legacy(chain)
            atomic_write(self.dir / BUNDLES_DIR / _root_file(new.signer), data)
            chain.floors.raise_bundle(new.signer, new.version, new.issued_at)
            atomic_write(self.dir / STATE_FILE, chain.floors.to_json())
            chain.bundles[new.signer] = new
            results = [ImportResult("bundle", True, _describe_bundle(new))]
            return results + self._install_embedded(new, chain)

    def _install_embedded(self, bundle: Bundle, chain: Chain) -> list[ImportResult]:
        results = []
        for raw in bundle.status_list_tokens:
            with contextlib.suppress(TrustError):  # a bad embedded list is reported at load
                results.append(self._install_list(raw, bundle, chain))
        return results

    def _migrate_legacy(self, chain: Chain) -> None:
        """A bundle still in the old single-file layout moves to its root's file."""
        legacy = self.dir / LEGACY_BUNDLE_FILE
        for signer, path in list(chain.sources.items()):
            if path == legacy:
                moved = self.dir / BUNDLES_DIR / _root_file(signer)
                atomic_write(moved, chain.bundles[signer].raw)
                chain.sources[signer] = moved
                legacy.unlink()

    def import_status_list(self, data: bytes, *, sign1: Sign1 | None = None) -> ImportResult:
        with self._locked():
            chain = self.chain()
            bundle = chain.active
            if bundle is None:
                raise TrustError(
                    "status list: install a trust bundle first (signed by a pinned root)"
                )
            return self._install_list(data, bundle, chain, sign1)

    def _install_list(
        self, data: bytes, bundle: Bundle, chain: Chain, sign1: Sign1 | None = None
    ) -> ImportResult:
        token = parse_status_list_token(data, bundle, sign1=sign1)
        what = f"status list {token.uri}"
        self._check_dates(what, token.issued_at, token.expires_at)
        path = self._list_path(token.uri)
        held = self._held_list(path, bundle)
        floor = max(chain.list_floor(token.uri, bundle), held.issued_at if held else 0)
        if token.issued_at < floor:
            raise TrustError(f"{what}: issued before the installed one (rollback refused)")
        if token.issued_at == floor and held is not None:
            if token.raw != held.raw:
                raise TrustError(f"{what}: a different list with the same iat is installed")
            return ImportResult("status list", False, f"{token.uri} already installed")
        atomic_write(path, data)
        chain.floors.raise_list(token.uri, token.issued_at, token.kid)
        atomic_write(self.dir / STATE_FILE, chain.floors.to_json())
        return ImportResult("status list", True, _describe_list(token))

    def _held_list(self, path: Path, bundle: Bundle) -> StatusListToken | None:
        try:
            return parse_status_list_token(read_limited(path, MAX_STATUS_LIST_TOKEN_BYTES), bundle)
        except TrustError:
            return None  # missing, damaged, or no longer trusted: its floor is in state.json

    def clean_temporary_files(self) -> int:
        """Remove leftovers of writes interrupted by a crash. Returns how many."""
        removed = 0
        for folder in (self.dir, self.dir / BUNDLES_DIR, self.dir / LISTS_DIR):
            if folder.is_dir() and not folder.is_symlink():
                for leftover in folder.glob(f".*{TMP_MARK}*"):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
                        removed += 1
        return removed


def _listing(folder: Path, suffix: str) -> list[Path]:
    if not os.path.lexists(folder):
        return []
    if folder.is_symlink() or not folder.is_dir():
        raise TrustError(f"{folder}: not a folder (a symlink or a file), refused")
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise TrustError(f"{folder}: cannot list ({exc.strerror})") from None
    return sorted(folder / n for n in names if n.endswith(suffix) and TMP_MARK not in n)


def _utc(moment: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _describe_bundle(bundle: Bundle) -> str:
    return (
        f"bundle of {bundle.issuer} version {bundle.version}: {len(bundle.keys)} keys, "
        f"{len(bundle.revoked_kids)} revoked, {len(bundle.status_list_tokens)} status lists"
    )


def _describe_list(token: StatusListToken) -> str:
    return f"status list {token.uri} ({token.statuses.size} slots, {token.statuses.bits} bit)"
