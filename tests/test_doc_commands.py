"""The docs' runnable shell blocks, run as a reader would run them (issue 13).

The convention (also in docs/operating.md, "Commands in these docs"):

- A line `<!-- runnable -->` right before a ```sh block marks the block runnable. GitHub
  does not show the comment, so the page reads as before.
- Each page's runnable blocks run in order, in one scratch directory per page, each with
  `bash -euo pipefail`: later blocks see the files earlier ones made (shell variables do not
  carry over). PATH starts with the project's `.venv/bin`, HOME is a fresh folder, and no
  `KIOSK_*`/`XDG_*` variable or display leaks in from the machine running the tests.
- A ```text block right after a runnable block (only blank lines between) is its output:
  stdout and stderr together, line for line. In it `…` stands for any text on a line (ids,
  keys, dates, sizes), and a line that is only `…` for any number of lines.

Blocks that need root, the network, hardware or minutes (install steps, `make run`) stay
unmarked; they are checked by reading the code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^ {0,3}(`{3,})\s*([\w+-]*)")
ANY = "…"


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    runnable: bool
    after_blank: int  # index of the first non-blank line after the closing fence


def read_blocks(page: str) -> list[Block]:
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        ticks, lang = opening.groups()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(ticks):
            end += 1
        after = end + 1
        while after < len(lines) and not lines[after].strip():
            after += 1
        blocks.append(
            Block(
                page=page,
                line=i + 1,
                lang=lang,
                code="\n".join(lines[i + 1 : end]) + "\n",
                runnable=i > 0 and lines[i - 1].strip() == MARKER,
                after_blank=after,
            )
        )
        i = end + 1
    return blocks


def runnable(page: str) -> list[tuple[Block, str | None]]:
    """Each runnable block with the output its page shows for it, if any."""
    blocks = read_blocks(page)
    found = []
    for n, block in enumerate(blocks):
        if not block.runnable:
            continue
        shown = None
        if n + 1 < len(blocks):
            following = blocks[n + 1]
            if following.lang == "text" and following.line == block.after_blank + 1:
                shown = following.code
        found.append((block, shown))
    return found


def expected(shown: str) -> re.Pattern[str]:
    parts = []
    for line in shown.strip("\n").splitlines():
        line = line.rstrip()
        if line == ANY:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(r"[^\n]*?".join(re.escape(piece) for piece in line.split(ANY)) + "\n")
    return re.compile("".join(parts))


def normalised(output: str) -> str:
    return "".join(line.rstrip() + "\n" for line in output.strip("\n").splitlines())


PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
RUNNABLE_PAGES = [page for page in PAGES if runnable(page)]


def scratch_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KIOSK_", "XDG_"))
        and key not in ("DISPLAY", "WAYLAND_DISPLAY", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        HOME=str(home),
        PYTHONUNBUFFERED="1",  # stdout and stderr interleave as they would in a terminal
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_runnable_blocks_run_as_documented(page: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = scratch_env(home)
    for block, shown in runnable(page):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            timeout=180,
            check=False,
        )
        where = f"{page}:{block.line}"
        assert done.returncode == 0, (
            f"{where} exits {done.returncode}\n{block.code}--- output:\n{done.stdout}"
        )
        if shown is not None:
            matches = expected(shown).fullmatch(normalised(done.stdout)) is not None
            assert matches, (
                f"{where}: the output differs from the page's\n--- shown:\n{shown}"
                f"--- got:\n{done.stdout}"
            )


def test_every_marker_marks_a_shell_block() -> None:
    """A marker a typo separates from its block would silently test nothing."""
    stray = []
    for page in PAGES:
        lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if re.match(r"\s*<!--\s*runnable", line):  # prose may quote the marker
                nxt = FENCE.match(lines[n + 1]) if n + 1 < len(lines) else None
                if line.strip() != MARKER or nxt is None or nxt.group(2) != "sh":
                    stray.append(f"{page}:{n + 1}")
    assert not stray, f"'{MARKER}' must be alone on the line right before a ```sh block"


def test_the_guides_have_runnable_blocks() -> None:
    assert {"README.md", "docs/city-guide.md", "docs/operating.md"} <= set(RUNNABLE_PAGES)


@pytest.mark.parametrize(
    ("shown", "output", "matches"),
    [
        ("bundle version 1, … bytes\n", "bundle version 1, 584 bytes\n", True),
        ("bundle version 1, … bytes\n", "bundle version 2, 584 bytes\n", False),
        ("first\n…\nlast\n", "first\na\nb\nlast\n", True),
        ("first\n…\nlast\n", "first\nlast\n", True),
        ("first\nlast\n", "first\nextra\nlast\n", False),
        ("✓ ACCEPTED: …\n", "✓ ACCEPTED: The card is valid.\n  SPECIMEN card\n", False),
    ],
)
def test_shown_output_matching(shown: str, output: str, matches: bool) -> None:
    assert bool(expected(shown).fullmatch(normalised(output))) is matches
