"""The hash locks (requirements/*.txt) agree with pyproject.toml's ranges (issue 14).

A range widened or narrowed in pyproject.toml without `make lock` would leave kiosks
installing versions the project never declared; this fails until the locks are regenerated.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(path: Path) -> dict[str, list[Version]]:
    """Every pinned name in a lock with its versions (one per marker branch), and its hashes
    checked on the way: a pin without a hash would make pip refuse the whole file."""
    found: dict[str, list[Version]] = {}
    entries = re.split(r"\n(?=\S)", path.read_text())
    for entry in entries:
        match = PIN.match(entry)
        if match is None:
            assert entry.startswith("#") or not entry.strip(), f"{path.name}: odd line {entry!r}"
            continue
        assert "--hash=sha256:" in entry, f"{path.name}: {match[1]} has no hash"
        found.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return found


def declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    if extra:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(r) for r in wanted]


@pytest.mark.parametrize(("lock", "extra"), [("kiosk.txt", None), ("test.txt", "test")])
def test_lock_satisfies_every_declared_range(lock: str, extra: str | None) -> None:
    locked = pins(ROOT / "requirements" / lock)
    for requirement in declared(extra):
        versions = locked.get(canonicalize_name(requirement.name))
        assert versions, f"{lock} lacks {requirement.name}: run `make lock`"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {requirement.name}=={version} outside pyproject's "
                f"{requirement.specifier}: run `make lock`"
            )


def test_runtime_lock_is_the_test_lock_without_test_tools() -> None:
    runtime = pins(ROOT / "requirements" / "kiosk.txt")
    test = pins(ROOT / "requirements" / "test.txt")
    for name, versions in runtime.items():
        assert test.get(name) == versions, (
            f"{name}: kiosk.txt {versions}, test.txt {test.get(name)}"
        )


def test_a_disagreeing_lock_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a lock pinning cbor2 6 breaks pyproject's <6."""
    text = (ROOT / "requirements" / "kiosk.txt").read_text()
    bad = tmp_path / "kiosk.txt"
    bad.write_text(re.sub(r"(?m)^cbor2==\S+", "cbor2==6.3.0", text))
    locked = pins(bad)
    cbor2 = next(r for r in declared(None) if r.name == "cbor2")
    assert not all(cbor2.specifier.contains(v) for v in locked["cbor2"])
