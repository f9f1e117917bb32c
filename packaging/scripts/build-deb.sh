#!/bin/bash
# Build the rvpn-server and rvpn-client Debian packages:
#   packaging/scripts/build-deb.sh [OUTDIR]      (default OUTDIR: build-deb/ in the
#                                                 repository root, whatever the cwd)
# Copies the source tree (tracked and new, non-ignored files) to
# OUTDIR/src/rvpn-VERSION with packaging/debian as debian/, runs
# `dpkg-buildpackage -us -uc -b` there, leaves the .debs in OUTDIR, then checks
# them: expected files present, postinst syntax, and the systemd units pass
# `systemd-analyze verify` (when systemd-analyze exists).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$root/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

"$root/packaging/scripts/install-deps.sh"
export RVPN_CACHE_DIR=${RVPN_CACHE_DIR:-$HOME/.cache/rvpn}
RVPN_CACHE_DIR=$(cd "$RVPN_CACHE_DIR" && pwd)

version=$(sed -n '1s/^rvpn (\([^)]*\)).*/\1/p' "$root/packaging/debian/changelog")
src=$out/src/rvpn-$version
rm -rf "$out/src"
mkdir -p "$src"

echo "build-deb: copying the source tree to $src"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$root" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	tar -C "$root" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -r "$root/packaging/debian" "$src/debian"

echo "build-deb: dpkg-buildpackage -us -uc -b"
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=${RVPN_JOBS:-2}" \
	dpkg-buildpackage -us -uc -b) >"$out/dpkg-buildpackage.log" 2>&1 || {
	tail -60 "$out/dpkg-buildpackage.log"
	echo "build-deb: dpkg-buildpackage failed (full log: $out/dpkg-buildpackage.log)" >&2
	exit 1
}
rm -f "$out"/rvpn-*.deb "$out"/rvpn*.buildinfo "$out"/rvpn*.changes
mv "$out/src"/*.deb "$out/src"/*.buildinfo "$out/src"/*.changes "$out/"

# --- checks -----------------------------------------------------------------
fail=0
check() { if "$@"; then :; else echo "build-deb: CHECK FAILED: $*" >&2; fail=1; fi; }
has() { local l; l=$(dpkg-deb -c "$1") && grep -q -- " \./$2\$" <<<"$l"; }

srv=$(ls "$out"/rvpn-server_*.deb)
cli=$(ls "$out"/rvpn-client_*.deb)
for f in usr/bin/rvpn-server lib/systemd/system/rvpn-server.service etc/rvpn/server.conf \
	usr/share/man/man8/rvpn-server.8.gz usr/share/doc/rvpn-server/copyright; do
	check has "$srv" "$f"
done
for f in usr/bin/rvpn-client lib/systemd/system/rvpn-client@.service \
	usr/share/man/man1/rvpn-client.1.gz usr/share/man/man5/rvpn.conf.5.gz \
	usr/share/doc/rvpn-client/examples/client-example.conf usr/share/doc/rvpn-client/copyright; do
	check has "$cli" "$f"
done

x=$out/extract
rm -rf "$x"
mkdir -p "$x/ctl"
dpkg-deb -x "$srv" "$x"
dpkg-deb -x "$cli" "$x"
dpkg-deb -e "$srv" "$x/ctl"
check sh -n "$x/ctl/postinst"
check sh -n "$x/ctl/postrm"
check "$x/usr/bin/rvpn-server" --version
check "$x/usr/bin/rvpn-client" --version
check sh -c "'$x/usr/bin/rvpn-server' genkey | '$x/usr/bin/rvpn-server' pubkey >/dev/null"

if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart's binary exists: point it at the extracted one.
	u=$out/units
	rm -rf "$u"
	mkdir -p "$u"
	sed "s|/usr/bin/|$x/usr/bin/|g" "$x/lib/systemd/system/rvpn-server.service" >"$u/rvpn-server.service"
	sed "s|/usr/bin/|$x/usr/bin/|g" "$x/lib/systemd/system/rvpn-client@.service" >"$u/rvpn-client@demo.service"
	for unit in "$u/rvpn-server.service" "$u/rvpn-client@demo.service"; do
		# Warnings about the environment (no such user/config yet) are not errors.
		if ! msg=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$unit" 2>&1); then
			echo "$msg"
			echo "build-deb: CHECK FAILED: systemd-analyze verify $(basename "$unit")" >&2
			fail=1
		elif [ -n "$msg" ]; then
			echo "$msg" | sed 's/^/  systemd-analyze: /'
		fi
	done
	echo "build-deb: security exposure (systemd-analyze security, lower is better):"
	systemd-analyze security --offline=yes "$u/rvpn-server.service" 2>/dev/null | tail -1 | sed 's/^/  rvpn-server.service: /' || true
else
	echo "build-deb: systemd-analyze not available; units not verified"
fi

ls -l "$out"/*.deb
if [ $fail = 0 ]; then
	echo "build-deb: OK; install with:"
	echo "  sudo apt-get install $out/rvpn-server_${version}_*.deb $out/rvpn-client_${version}_*.deb"
	echo "  (as root: the same without sudo; lintian: lintian $out/rvpn-*_${version}_*.deb)"
else
	echo "build-deb: FAILED" >&2
	exit 1
fi
