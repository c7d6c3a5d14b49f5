"""Build docs/images/screens.png, the README's contact sheet, from `kiosk screens` output.

.venv/bin/kiosk screens --out /tmp/shots && .venv/bin/python scripts/contact_sheet.py /tmp/shots
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

PICKS = [
    "idle-en",
    "accepted-es",
    "rejected-ar",
    "cant-check-zh-Hans",
    "counter-ur",
    "out-of-service-hi",
    "specimen-ko",
    "rejected-passback-gu",
    "grace-vi",
    "rejected-expired-pl",
    "technician-en",
    "idle-uk",
]
COLUMNS, THUMB = 4, (480, 288)


def main(shots: Path, out: Path = Path("docs/images/screens.png")) -> None:
    rows = -(-len(PICKS) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * THUMB[0], rows * THUMB[1]), (255, 255, 255))
    for i, name in enumerate(PICKS):
        shot = Image.open(shots / f"{name}-800x480.png").convert("RGB").resize(THUMB, Image.LANCZOS)
        row, col = divmod(i, COLUMNS)
        sheet.paste(shot, (col * THUMB[0], row * THUMB[1]))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"{out}: {sheet.width}x{sheet.height}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
