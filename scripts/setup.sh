#!/usr/bin/env bash
# Set up a development or CI machine (Debian / Raspberry Pi OS): the system packages the
# kiosk needs, then a virtual environment with the kiosk and its test tools.
set -euo pipefail
venv="${1:-.venv}"

# Debian packages: the time-zone database (policy ages are computed in the site's local
# time), zbar (the decoder chain's fallback, through pyzbar), fribidi (Pillow's libraqm text
# shaping loads it, and the screens' bidi levels come from it), the Noto fonts of the screens
# (Latin, Cyrillic, Arabic Naskh, Urdu Nastaliq, Devanagari, Gujarati, CJK SC/TC/KR), DejaVu
# for symbols, and Python with venv support unless the Python on PATH already makes venvs.
packages=(tzdata libzbar0 libfribidi0 fonts-dejavu-core fonts-noto-core fonts-noto-cjk espeak-ng)  # espeak-ng: spoken results (docs/voice.md)
# promtool, from Debian's prometheus package, runs the alert rules' unit tests (docs/fleet.md).
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
if ! { python3 -m venv --help && python3 -c "import ensurepip"; } >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
fi

want=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || want+=("$p")
    done
fi
if [ "${#want[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing system packages: ${want[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${want[@]}"
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
# The exact, hash-checked files of requirements/test.txt (see requirements/README.md), then
# the kiosk itself, editable, with nothing more resolved.
"$venv/bin/python" -m pip install -q --require-hashes -r requirements/test.txt
"$venv/bin/python" -m pip install -q --no-deps -e .
