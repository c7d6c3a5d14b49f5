"""QR decoding: the kiosk's decoder chain against each library alone, side by side, one run.

    .venv/bin/python benchmarks/decode.py [--frames 200] [--rounds 3] [--corpus PATH]

Three measurements, each printed as a markdown table:

1. The real photos of `../shared/corpus/zxing-qrcode-{1,2,3}` (97 images; success = the
   decoded text equals the `.txt` beside the image, without its trailing newline).
2. `--frames` synthetic 1280x720 camera frames of real issued cards (kiosk.scan.synthetic,
   fixed seed), success = the card's text is among those decoded.
3. The cost of an empty frame (no code) for the chain and for zxing-cpp alone, at 640x480
   and 1280x720: most frames a kiosk sees are empty, and the chain must cost no more there.

Timing: every decoder runs on every image in every round, in a random order drawn per image
and round, so each is measured as often first (cold caches) as last, and after each of the
others. This machine's speed drifts by up to 1.5x over seconds; measurements taken side by
side share the drift, ones taken one after another do not. Per image the median over
rounds counts; the tables give the median and the 90th percentile over images.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from kiosk.issuer.city import DAY_S, City, Holder
from kiosk.scan.decoder import DecoderChain
from kiosk.scan.synthetic import card_texture, empty_frame, render_frame

Decoder = Callable[[np.ndarray], list[str]]
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
NOW = 1_790_000_000


QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def zxing_alone(image: np.ndarray) -> list[str]:
    """zxing-cpp as one would call it: QR codes, default searches, the code's own text."""
    found = zxingcpp.read_barcodes(image, formats=QR, text_mode=zxingcpp.TextMode.Plain)
    return [barcode.text for barcode in found]


def zxing_hri(image: np.ndarray) -> list[str]:
    """zxing-cpp's default text mode (HRI), as the issue measured: control characters are
    escaped as "<SOH>", so a code holding them never matches its expected text."""
    return [barcode.text for barcode in zxingcpp.read_barcodes(image, formats=QR)]


def pyzbar_alone() -> Decoder | None:
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError):
        return None

    def decode(image: np.ndarray) -> list[str]:
        found = pyzbar.decode(image, [pyzbar.ZBarSymbol.QRCODE])
        return [r.data.decode("utf-8", "replace") for r in found]

    return decode


def opencv(detector: cv2.QRCodeDetector | cv2.QRCodeDetectorAruco) -> Decoder:
    def decode(image: np.ndarray) -> list[str]:
        try:
            ok, texts, _, _ = detector.detectAndDecodeBytesMulti(image)
        except cv2.error:  # e.g. "mode 13 not implemented" (Kanji segments)
            return []
        return [t.decode("utf-8", "replace") for t in texts if t] if ok else []

    return decode


def texts_of(chain: DecoderChain) -> Decoder:
    return lambda image: list(chain.decode(image).texts)


def decoders() -> dict[str, Decoder]:
    chain, still = DecoderChain(), DecoderChain(still=True)
    found: dict[str, Decoder] = {"zxing-cpp": zxing_alone, "zxing-cpp, HRI text": zxing_hri}
    zbar = pyzbar_alone()
    if zbar is not None:
        found["pyzbar"] = zbar
    found["OpenCV QRCodeDetector"] = opencv(cv2.QRCodeDetector())
    if hasattr(cv2, "QRCodeDetectorAruco"):
        found["OpenCV QRCodeDetectorAruco"] = opencv(cv2.QRCodeDetectorAruco())
    found["chain (camera)"] = texts_of(chain)
    found["chain (photos, `kiosk decode`)"] = texts_of(still)
    return found


def side_by_side(
    named: dict[str, Decoder], images: Sequence[np.ndarray], rounds: int
) -> tuple[dict[str, list[list[str]]], dict[str, list[float]]]:
    """Texts (first round) and per-image median ms of every decoder, interleaved."""
    names = list(named)
    order = np.random.default_rng(0)
    texts: dict[str, list[list[str]]] = {name: [] for name in names}
    samples: dict[str, list[list[float]]] = {name: [[] for _ in images] for name in names}
    for round_ in range(rounds):
        for i, image in enumerate(images):
            for j in order.permutation(len(names)):
                name = names[j]
                start = time.perf_counter()
                result = named[name](image)
                samples[name][i].append((time.perf_counter() - start) * 1000)
                if round_ == 0:
                    texts[name].append(result)
    return texts, {name: [statistics.median(s) for s in samples[name]] for name in names}


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))


def table(
    title: str,
    texts: dict[str, list[list[str]]],
    ms: dict[str, list[float]],
    good: Callable[[int, list[str]], bool],
    total: int,
) -> None:
    hits = {name: [good(i, t) for i, t in enumerate(found)] for name, found in texts.items()}
    print(f"\n### {title}\n")
    print("| decoder | read correctly | median ms | p90 ms |")
    print("|---|---|---|---|")
    for name in hits:
        print(
            f"| {name} | {sum(hits[name])} / {total} | "
            f"{statistics.median(ms[name]):.2f} | {percentile(ms[name], 90):.2f} |"
        )
    if "pyzbar" in hits:
        union = [z or p for z, p in zip(hits["zxing-cpp"], hits["pyzbar"], strict=True)]
        union_ms = [
            z + (p if not ok else 0.0)
            for z, p, ok in zip(ms["zxing-cpp"], ms["pyzbar"], hits["zxing-cpp"], strict=True)
        ]
        print(
            f"| zxing-cpp, then pyzbar where it failed (union) | {sum(union)} / {total} | "
            f"{statistics.median(union_ms):.2f} | {percentile(union_ms, 90):.2f} |"
        )
    zxing_median = statistics.median(ms["zxing-cpp"])
    for name in ("chain (camera)", "chain (photos, `kiosk decode`)"):
        ratio = statistics.median(ms[name]) / zxing_median
        print(f"\n{name}: median time {ratio:.2f}x zxing-cpp alone", end="")
    print()


def corpus_images(root: Path) -> tuple[list[str], list[np.ndarray], list[str]]:
    names, images, expected = [], [], []
    for folder in sorted(root.glob("zxing-qrcode-*")):
        for png in sorted(folder.glob("*.png"), key=lambda p: int(p.stem)):
            image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            if image is None:
                continue
            names.append(f"{folder.name}/{png.name}")
            images.append(image)
            # Bytes, not text mode: several expected texts hold CR LF that must stay.
            expected.append(png.with_suffix(".txt").read_bytes().decode("utf-8"))
    return names, images, expected


def matches(texts: list[str], expected: str) -> bool:
    return any(t in (expected, expected.removesuffix("\n")) for t in texts)


def issued_cards(count: int) -> list[str]:
    names = ["Ana Sofía Reyes", "王小明", "ليلى حداد", "Jan Kowalski", "Nguyễn Thị Minh Khai"]
    benefits = [("library",), ("library", "museum"), (), ("museum", "pharmacy", "transit")]
    with tempfile.TemporaryDirectory() as tmp:
        city = City.init(Path(tmp) / "city", "us-il-chicago", "https://id.example.gov/s/", NOW)
        return [
            city.issue(
                Holder(
                    names[i % 5],
                    f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
                    lang=["es", "zh-Hans", "ar", None][i % 4],
                    benefits=benefits[i % 4],
                ),
                NOW + DAY_S,
            ).text
            for i in range(count)
        ]


def empty_cost(rounds: int, count: int) -> None:
    """Chain vs zxing-cpp alone on frames without a code, ABAB/BABA interleaved."""
    print("\n### Cost of a frame without a code (median ms per frame)\n")
    print("| frame | zxing-cpp alone | chain | chain / zxing-cpp (median, mean) | searched |")
    print("|---|---|---|---|---|")
    for size in ((640, 480), (1280, 720)):
        for blank_card in (False, True):
            rng = np.random.default_rng(7)
            frames = [empty_frame(rng, size, blank_card=blank_card) for _ in range(count)]
            chain = DecoderChain()
            named: dict[str, Decoder] = {"zxing": zxing_alone, "chain": texts_of(chain)}
            _, ms = side_by_side(named, frames, rounds)
            z, c = ms["zxing"], ms["chain"]
            what = "scene + a card without QR" if blank_card else "scene"
            print(
                f"| {size[0]}x{size[1]} {what} | {statistics.median(z):.3f} | "
                f"{statistics.median(c):.3f} | {statistics.median(c) / statistics.median(z):.2f}, "
                f"{sum(c) / sum(z):.2f} | {chain.stats.searched / chain.stats.frames:.0%} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--frames", type=int, default=200, help="synthetic frames")
    parser.add_argument("--seed", type=int, default=1, help="synthetic frames' seed")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds per image")
    parser.add_argument("--empty", type=int, default=60, help="empty frames per size")
    args = parser.parse_args()
    versions = ", ".join(
        f"{package} {version(package)}"
        for package in ("zxing-cpp", "pyzbar", "opencv-python-headless")
    )
    print(f"{versions}, numpy {np.__version__}, {sys.platform}")

    if args.corpus.is_dir():
        names, images, expected = corpus_images(args.corpus)
        texts, ms = side_by_side(decoders(), images, args.rounds)
        table(
            f"Real photos: {args.corpus.name} ({len(images)} images)",
            texts,
            ms,
            lambda i, found: matches(found, expected[i]),
            len(images),
        )
        missed = [
            n
            for n, t, e in zip(
                names, texts["chain (photos, `kiosk decode`)"], expected, strict=True
            )
            if not matches(t, e)
        ]
        print(f"\nchain misses: {', '.join(missed) or 'none'}")
    else:
        print(f"\n(no corpus at {args.corpus}: photos skipped)")

    cards = issued_cards(20)
    rng = np.random.default_rng(args.seed)
    shown = [cards[i % len(cards)] for i in range(args.frames)]
    textures = {text: card_texture(text) for text in cards}
    frames = [render_frame(textures[text], rng) for text in shown]
    named = decoders()
    texts, ms = side_by_side(named, frames, max(1, args.rounds - 2))
    table(
        f"Synthetic 1280x720 frames of issued cards (seed {args.seed})",
        texts,
        ms,
        lambda i, found: shown[i] in found,
        len(frames),
    )
    chain = DecoderChain()
    stages = Counter(chain.decode(frame).stage or "(not read)" for frame in frames)
    print(
        "\nchain stages on these frames: " + ", ".join(f"{s} {n}" for s, n in stages.most_common())
    )

    empty_cost(args.rounds + 3, args.empty)


if __name__ == "__main__":
    main()
