#!/usr/bin/env bash
# `make check-arm64`: prove the Raspberry Pi path on an x86_64 machine, under emulation.
#
# In an arm64 Debian bookworm root (debootstrap + qemu-user-static; made on first use,
# about 10 minutes), it builds the arm64 .deb from this checkout, installs it, runs
# `kiosk demo --headless` from the package, and runs the core, trust, device and screens
# tests against the arm64 wheels of requirements/test.txt; then prints each step's time.
# Slow (tens of minutes): not part of .ci/run. Run as root:
#
#   sudo scripts/check-arm64.sh [ROOT]     # ROOT default /var/tmp/kiosk-arm64-root
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/var/tmp/kiosk-arm64-root}
[ "$(id -u)" -eq 0 ] || { echo "check-arm64: run as root (debootstrap, chroot)" >&2; exit 1; }

timings=()
timed() {
    local name=$1 start=$SECONDS
    shift
    printf '\n== %s\n' "$name"
    "$@"
    timings+=("$(printf '%-34s %5d s' "$name" $((SECONDS - start)))")
}

emulation() {
    if [ "$(uname -m)" != aarch64 ]; then
        command -v qemu-aarch64-static >/dev/null && command -v debootstrap >/dev/null || {
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                qemu-user-static binfmt-support debootstrap
        }
        mountpoint -q /proc/sys/fs/binfmt_misc \
            || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
        update-binfmts --enable qemu-aarch64 2>/dev/null || true
        [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
            || { echo "check-arm64: qemu-aarch64 is not registered with binfmt_misc" >&2; exit 1; }
    fi
}

make_root() {
    if [ ! -x "$root/usr/bin/apt-get" ]; then
        debootstrap --arch arm64 --variant=minbase bookworm "$root" http://deb.debian.org/debian
    fi
}

mounts() {
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
    # the device simulators are pseudo-terminals
    mountpoint -q "$root/dev/pts" || mount --bind /dev/pts "$root/dev/pts"
    mountpoint -q "$root/sys" || mount -t sysfs sysfs "$root/sys"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
        cp "$PIP_CERT" "$root/etc/ssl/host-ca.crt"
    fi
}
unmount() {
    for m in proc dev/pts dev sys; do umount "$root/$m" 2>/dev/null || true; done
}
trap unmount EXIT

# A network that inspects TLS has its own CA (the host's pip knows it as PIP_CERT): pip in
# the root needs it too.
pip_cert=()
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    pip_cert=(PIP_CERT=/etc/ssl/host-ca.crt)
fi
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "${pip_cert[@]}" "$@"
}

build_tools() {
    in_root apt-get update -qq
    in_root apt-get install -y -qq --no-install-recommends python3 python3-venv dpkg-dev \
        fakeroot xz-utils ca-certificates git >/dev/null
    rm -rf "$root/src" && mkdir -p "$root/src"
    git archive HEAD | tar -x -C "$root/src"  # the committed tree, nothing half-done
}

build_deb() {
    in_root sh -c 'cd /src && rm -rf dist && DEB_COMPRESS=gzip scripts/build-deb.sh'
}

install_deb() {
    in_root sh -c 'apt-get install -y -qq --no-install-recommends /src/dist/*.deb >/dev/null'
    in_root dpkg-query -W citycard-kiosk
    in_root /usr/bin/kiosk --help >/dev/null
}

demo() {
    # the packaged kiosk end to end: camera, decoder, trust, gate and screens, simulated
    in_root sh -c 'cd /tmp && timeout 900 kiosk demo --headless --shots /tmp/demo-shots' \
        | tail -n 5
    in_root sh -c 'ls /tmp/demo-shots | wc -l' | xargs -I{} echo "{} screens saved"
}

test_env() {
    in_root sh -c 'cd /src && python3 -m venv /opt/test-venv \
        && /opt/test-venv/bin/pip install -q --require-hashes -r requirements/test.txt \
        && /opt/test-venv/bin/pip install -q --no-deps -e .'
}

tests() {
    in_root sh -c 'cd /src && /opt/test-venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_base45.py tests/test_vectors.py tests/test_cbor_strict.py tests/test_statuslist.py \
        tests/test_policy.py tests/test_reasons.py tests/test_trust_state.py tests/test_trust_pins.py \
        tests/test_modbus_gate.py tests/test_escpos_printer.py tests/test_osdp_reader.py \
        tests/test_ui_screens.py tests/test_ui_text.py'
}

timed "emulation (qemu-user, binfmt)" emulation
timed "arm64 bookworm root" make_root
mounts
in_root uname -m | grep -qx aarch64 || { echo "check-arm64: the root does not run as aarch64" >&2; exit 1; }
timed "build tools and sources" build_tools
timed "build the arm64 .deb" build_deb
timed "install the .deb" install_deb
timed "kiosk demo --headless (packaged)" demo
timed "test environment (locked wheels)" test_env
timed "core, trust, device, screens tests" tests

printf '\n== timings on %s (%s)\n' "$(hostname)" "$(uname -m) host, aarch64 under emulation"
printf '%s\n' "${timings[@]}"
ls -l "$root"/src/dist/*.deb
