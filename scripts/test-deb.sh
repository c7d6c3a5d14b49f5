#!/usr/bin/env bash
# Install, use, upgrade, remove and purge the kiosk's .deb in a clean Debian root (a chroot
# made by debootstrap), as root:
#
#   scripts/test-deb.sh BASE_ROOT OLD.deb NEW.deb
#
# BASE_ROOT is a bookworm root from `debootstrap --variant=minbase bookworm DIR`; it is
# copied, never changed. OLD and NEW are two builds of the package (`DEB_VERSION=… make
# deb`). Prints what the install pulls in, and exits non-zero at the first broken promise.
set -euo pipefail
base=$1 old=$2 new=$3
[ "$(id -u)" -eq 0 ] || { echo "test-deb: run as root (chroot)" >&2; exit 1; }
root=$(mktemp -d /var/tmp/kiosk-deb-test.XXXXXX)
cleanup() {
    for m in proc dev/pts dev sys; do umount "$root/$m" 2>/dev/null || true; done
    rm -rf "$root"
}
trap cleanup EXIT
cp -a "$base/." "$root/"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t sysfs sysfs "$root/sys"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$old" "$root/tmp/old.deb"
cp "$new" "$root/tmp/new.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
step() { printf '\n== %s\n' "$*"; }
fail() { echo "test-deb: FAILED: $*" >&2; exit 1; }

step "install $(basename "$old") (no recommends)"
in_root apt-get update -qq
count() { in_root apt-get install -s "$@" /tmp/old.deb 2>/dev/null | grep -c '^Inst' || true; }
echo "packages pulled in: $(count --no-install-recommends) ($(count --install-recommends) with recommends)"
before=$(in_root dpkg-query -W -f='${Installed-Size}\n' | awk '{s+=$1} END {print s}')
in_root apt-get install -y -qq --no-install-recommends /tmp/old.deb >/dev/null
after=$(in_root dpkg-query -W -f='${Installed-Size}\n' | awk '{s+=$1} END {print s}')
echo "installed: $(( (after - before) / 1024 )) MiB with its dependencies"

step "what postinst made"
in_root getent passwd kiosk >/dev/null || fail "no kiosk user"
in_root id -nG kiosk | grep -qw dialout || fail "kiosk is not in dialout"
[ "$(in_root stat -c '%U:%G %a' /var/lib/kiosk)" = "kiosk:kiosk 750" ] || fail "/var/lib/kiosk mode"
[ "$(in_root stat -c '%U:%G %a' /etc/kiosk/kiosk.toml)" = "root:kiosk 640" ] || fail "config mode"
[ -e "$root/etc/systemd/system/multi-user.target.wants/kiosk.service" ] && fail "kiosk.service enabled"
in_root /usr/bin/kiosk --help >/dev/null || fail "kiosk does not start"
echo ok

step "kiosk doctor (the example config still holds the placeholder root key)"
set +e
in_root /usr/bin/kiosk doctor --config /etc/kiosk/kiosk.toml
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -lt 100 ] || fail "doctor exit $rc"

step "a city's key and trust data, made with kiosk-issuer, imported as the kiosk user"
in_root sh -c 'cd /root && kiosk-issuer --dir city init --issuer us-xx-test --status-base-uri https://example.gov/status/ >/dev/null \
    && kiosk-issuer --dir city bundle --out /tmp/bundle.cose >/dev/null && chmod 0644 /tmp/bundle.cose'
key=$(in_root sh -c 'cd /root && kiosk-issuer --dir city root-key')
sed -i "s/^root_keys = .*/root_keys = [\"$key\"]/" "$root/etc/kiosk/kiosk.toml"
echo "# edited by the site" >> "$root/etc/kiosk/kiosk.toml"
in_root runuser -u kiosk -- kiosk trust import /tmp/bundle.cose --config /etc/kiosk/kiosk.toml
in_root runuser -u kiosk -- kiosk trust status --config /etc/kiosk/kiosk.toml
in_root runuser -u kiosk -- kiosk doctor --config /etc/kiosk/kiosk.toml || true
state=$(cd "$root/var/lib/kiosk" && find . -type f | sort | xargs md5sum)

step "upgrade to $(basename "$new")"
in_root apt-get install -y -qq --no-install-recommends /tmp/new.deb >/dev/null
[ "$(in_root dpkg-query -W -f='${Version}' citycard-kiosk)" = "$(dpkg-deb -f "$new" Version)" ] \
    || fail "version after upgrade"
grep -q "edited by the site" "$root/etc/kiosk/kiosk.toml" || fail "upgrade lost the config"
[ "$(cd "$root/var/lib/kiosk" && find . -type f | sort | xargs md5sum)" = "$state" ] \
    || fail "upgrade changed the trust state"
in_root runuser -u kiosk -- kiosk trust status --config /etc/kiosk/kiosk.toml >/dev/null \
    || fail "trust status after upgrade"
echo "config and trust state kept"

step "remove: config and state stay"
in_root apt-get remove -y -qq citycard-kiosk >/dev/null
[ -e "$root/usr/bin/kiosk" ] && fail "/usr/bin/kiosk left after remove"
[ -d "$root/opt/citycard-kiosk" ] && fail "/opt/citycard-kiosk left after remove"
[ -f "$root/etc/kiosk/kiosk.toml" ] || fail "remove deleted the config"
[ -n "$(ls -A "$root/var/lib/kiosk")" ] || fail "remove deleted the trust state"
echo ok

step "purge: config and state go"
in_root apt-get purge -y -qq citycard-kiosk >/dev/null
[ -e "$root/etc/kiosk/kiosk.toml" ] && fail "purge left the config"
[ -e "$root/var/lib/kiosk" ] && fail "purge left /var/lib/kiosk"
echo ok

printf '\ntest-deb: all steps passed\n'
