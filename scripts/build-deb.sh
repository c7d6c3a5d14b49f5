#!/usr/bin/env bash
# `make deb`: dist/citycard-kiosk_<version>_<arch>.deb for the Debian (or Raspberry Pi OS)
# machine it runs on — build amd64 on amd64 and arm64 on arm64 (scripts/check-arm64.sh does
# the latter in an emulated root).
#
# The kiosk and its hash-locked dependencies (requirements/kiosk.txt) go into a virtual
# environment under /opt/citycard-kiosk that runs on Debian's own python3; /usr/bin/kiosk
# and /usr/bin/kiosk-issuer link into it. Units are installed, not enabled. dpkg-deb builds
# the archive from a staged tree (what debhelper would generate, written out here so the
# venv can be relocated from the staging folder to /opt exactly once).
#
#   DEB_VERSION  the package version (default: pyproject's version + "-1")
#   DIST         where the .deb goes (default: dist)
#   DEB_COMPRESS xz (default) or gzip (much faster under emulation)
set -euo pipefail
cd "$(dirname "$0")/.."

python=/usr/bin/python3
package=citycard-kiosk
prefix=/opt/citycard-kiosk
upstream=$($python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
version=${DEB_VERSION:-$upstream-1}
arch=$(dpkg --print-architecture)
pyver=$($python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
dist=${DIST:-dist}
for tool in dpkg-deb fakeroot; do
    command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt install dpkg-dev fakeroot)" >&2; exit 1; }
done
$python -m venv --help >/dev/null 2>&1 \
    || { echo "build-deb: $python cannot make venvs (apt install python3-venv)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
venv=$root$prefix

echo "build-deb: $package $version for $arch (Python $pyver)"
# --system-site-packages: Raspberry Pi OS's python3-picamera2 (libcamera is not on PyPI)
# must be importable for a Pi Camera Module; every locked package is installed in the venv
# itself and comes first on sys.path, so the system's copies never stand in for them.
$python -m venv --system-site-packages "$venv"
"$venv/bin/pip" wheel -q --no-deps --wheel-dir "$work/wheel" . >/dev/null
"$venv/bin/pip" install -q --no-compile --require-hashes -r requirements/kiosk.txt
"$venv/bin/pip" install -q --no-compile --no-deps "$work"/wheel/*.whl
"$venv/bin/pip" uninstall -q -y pip  # an appliance installs nothing at run time
# The venv runs on Debian's python3.X, which the package depends on by exact minor version.
ln -sfn "/usr/bin/python$pyver" "$venv/bin/python3"
# Wheels unpack with odd modes: data and libraries 0644, only the venv's scripts executable.
find "$venv/lib" -type f -exec chmod 0644 {} +
find "$venv" -name ".git*" -prune -exec rm -rf {} +
# Relocate: scripts and activate files name the staging folder; the venv's python is a
# link to /usr/bin/python3.X already (pyvenv.cfg home = /usr/bin).
grep -rlI --null "$root" "$venv/bin" "$venv/pyvenv.cfg" | xargs -0 -r sed -i "s|$root||g"
if grep -rIl "$root" "$venv" >/dev/null; then
    echo "build-deb: the staging path is still named in:" >&2
    grep -rIl "$root" "$venv" >&2
    exit 1
fi
# Byte-code compiled now, with the installed paths in it, so the read-only /opt never needs
# writing (ProtectSystem=strict) and tracebacks name real files.
"$venv/bin/python" -m compileall -q -j 0 -s "$root" -p / "$venv/lib" >/dev/null
find "$venv" -name "RECORD" -path "*.dist-info/*" -exec sed -i "s|$root||g" {} +

install -d "$root/usr/bin"
ln -s "$prefix/bin/kiosk" "$root/usr/bin/kiosk"
ln -s "$prefix/bin/kiosk-issuer" "$root/usr/bin/kiosk-issuer"
install -d "$root/lib/systemd/system"
install -m 0644 systemd/kiosk.service systemd/kiosk-trust-sync.service \
    systemd/kiosk-trust-sync.timer "$root/lib/systemd/system/"
install -d "$root/etc/kiosk"
# 0644 as packaged (the example has no secrets); postinst makes it 0640 root:kiosk.
install -m 0644 config/library-entrance.toml "$root/etc/kiosk/kiosk.toml"
doc=$root/usr/share/doc/$package
install -d "$doc/examples" "$doc/docs"
install -m 0644 config/*.toml config/*.csv "$doc/examples/"
install -m 0644 README.md "$doc/"
install -m 0644 docs/*.md "$doc/docs/"
cp -r docs/images "$doc/docs/"
install -m 0644 debian/copyright "$doc/copyright"
gzip -9n -c debian/changelog > "$doc/changelog.Debian.gz"
gzip -9n -c CHANGELOG.md > "$doc/changelog.gz"
install -d "$root/usr/share/lintian/overrides"
install -m 0644 debian/lintian-overrides "$root/usr/share/lintian/overrides/$package"
find "$root/usr/share/doc" -type d -exec chmod 0755 {} +
find "$root/usr/share/doc" -type f -exec chmod 0644 {} +

install -d "$root/DEBIAN"
install -m 0755 debian/postinst debian/prerm debian/postrm "$root/DEBIAN/"
echo /etc/kiosk/kiosk.toml > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@PYVER@/$pyver/g" -e "s/@PYNEXT@/${pyver%.*}.$((${pyver#*.} + 1))/g" debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
    | xargs -0 md5sum) > "$root/DEBIAN/md5sums"

mkdir -p "$dist"
out=$dist/${package}_${version}_${arch}.deb
# root owns every file; /etc/kiosk/kiosk.toml's group becomes kiosk in postinst
fakeroot dpkg-deb -Z"${DEB_COMPRESS:-xz}" --build "$root" "$out" >/dev/null
echo "build-deb: $out ($(du -h "$out" | cut -f1), $((size / 1024)) MiB installed)"
