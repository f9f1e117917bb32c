#!/bin/sh
# Install every Debian 12 package needed to build, test, fuzz and package
# rvpn, then make sure the libwebsockets source tarball is in the cache.
# Idempotent: when everything is present it changes nothing (no apt-get
# update, no sudo).  Uses sudo only when not root.
#   RVPN_CACHE_DIR   tarball cache (default: $HOME/.cache/rvpn)
#   RVPN_DEPS_QUIET  set to 1 to print nothing when all is present
set -eu

here=$(cd "$(dirname "$0")" && pwd)

# One list, grouped by purpose; keep it in sync with README.md.  chromium
# (about 120 MB download, 410 MB installed) is only for
# tests/integration/test_it_browser.py, which skips without it.  haproxy: a
# private instance in tests/integration/test_it_failover.py (no service).
pkgs="
build-essential cmake ninja-build pkg-config git
libsodium-dev libssl-dev libmbedtls-dev libcmocka-dev libc-ares-dev libinih-dev libjansson-dev libqrencode-dev
clang libclang-rt-14-dev
dnsmasq-base curl netcat-openbsd python3 ca-certificates procps openssl nginx-light haproxy
openssh-client openssh-server
apt debian-archive-keyring
debhelper dpkg-dev fakeroot lintian
chromium
"

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	if [ "$(id -u)" -eq 0 ]; then
		as_root=""
	elif command -v sudo >/dev/null 2>&1; then
		as_root="sudo"
	else
		echo "install-deps: not root and no sudo; please install:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	$as_root apt-get update -q
	# shellcheck disable=SC2086
	$as_root apt-get install -y -q --no-install-recommends $missing
elif [ "${RVPN_DEPS_QUIET:-0}" != 1 ]; then
	echo "install-deps: all packages present"
fi

cache=${RVPN_CACHE_DIR:-$HOME/.cache/rvpn}
mkdir -p "$cache"
"$here/fetch-lws.sh" "$cache"
