"""QR code and printable card images for issued cards (Pillow + qrcode).

Card images use Noto Sans (fonts-noto-core) or DejaVu Sans when installed, else Pillow's
built-in font. Full script coverage for holder names comes with the kiosk's font chain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_Q

from kiosk.issuer.city import Holder

# ISO/IEC 7810 ID-1 (credit-card size) at 300 dpi
CARD_SIZE = (1012, 638)
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
_BOLD_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _BOLD_CANDIDATES if bold else _FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size)


def qr_image(text: str, box_size: int = 6) -> Image.Image:
    """The card's QR: alphanumeric mode (base45 was chosen for it), error correction Q.

    Q (25 %) as in the EU digital COVID certificate: cards are carried in wallets and worn.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=box_size, border=4)
    code.add_data(text, optimize=0)
    code.make(fit=True)
    image: Image.Image = code.make_image(fill_color="black", back_color="white").get_image()
    return image.convert("L")


def card_image(text: str, holder: Holder, city_name: str, expires_at: int) -> Image.Image:
    """A printable card; `city_name` is the city's display name ("City of Chicago")."""
    card = Image.new("RGB", CARD_SIZE, "white")
    draw = ImageDraw.Draw(card)
    width, height = CARD_SIZE
    draw.rectangle((0, 0, width, 110), fill=(0, 61, 122))
    draw.text((40, 30), f"{city_name} · Municipal ID", font=_font(44, bold=True), fill="white")
    qr = qr_image(text, box_size=5)
    side = min(height - 160, qr.width)
    qr = qr.resize((side, side), Image.Resampling.NEAREST)
    qr_box = (width - side - 30, 135, width - 30, 135 + side)
    card.paste(qr, qr_box[:2])
    y = 150
    draw.text((40, y), holder.name, font=_font(46, bold=True), fill="black")
    details = [
        f"Born {holder.dob}",
        f"Valid until {datetime.fromtimestamp(expires_at, UTC):%Y-%m-%d}",
    ]
    if holder.benefits:
        details.append("Benefits: " + ", ".join(holder.benefits))
    if holder.role == "technician":
        details.append("KIOSK TECHNICIAN")
    for line in details:
        y += 70
        draw.text((40, y), line, font=_font(32), fill="black")
    if holder.specimen:
        _stamp_specimen(card, keep_clear=qr_box)
    return card


def _stamp_specimen(card: Image.Image, keep_clear: tuple[int, int, int, int]) -> None:
    """A diagonal SPECIMEN mark across the card, as on sample IDs, leaving the QR clean."""
    layer = Image.new("RGBA", card.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    center = (keep_clear[0] // 2, card.height // 2 + 90)
    draw.text(center, "SPECIMEN", font=_font(84, bold=True), fill=(200, 0, 0, 120), anchor="mm")
    layer = layer.rotate(18, resample=Image.Resampling.BICUBIC, center=center)
    ImageDraw.Draw(layer).rectangle(keep_clear, fill=(0, 0, 0, 0))
    card.paste(layer, (0, 0), layer)
