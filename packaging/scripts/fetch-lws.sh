#!/bin/sh
# Fetch libwebsockets 4.1.6's orig tarball from Debian's source package into
# $1 (the cache dir), without touching the machine's apt configuration.
# Verified against the sha256 in Debian's .dsc; later builds reuse it.
set -eu
cache=${1:?usage: fetch-lws.sh CACHE_DIR}
want=402e9a8df553c9cd2aff5d7a9758e9e5285bf3070c82539082864633db3deb83
tarball=$cache/libwebsockets_4.1.6.orig.tar.gz
if [ -f "$tarball" ] && echo "$want  $tarball" | sha256sum -c --status; then
	exit 0
fi
d=$cache/lws-src
echo "fetch-lws: downloading the libwebsockets 4.1.6 source package into $cache" >&2
mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$d/src.sources"
# Private lists and cache dirs: works without root and leaves the system's apt state alone.
o="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$d -o Dir::State::Lists=$d/lists -o Dir::Cache=$d/cache"
# shellcheck disable=SC2086
apt-get $o update >/dev/null
# shellcheck disable=SC2086
(cd "$d" && apt-get $o source --download-only libwebsockets=4.1.6-3 >/dev/null 2>&1)
echo "$want  $d/libwebsockets_4.1.6.orig.tar.gz" | sha256sum -c --status || {
	echo "fetch-lws: checksum mismatch for libwebsockets_4.1.6.orig.tar.gz" >&2
	exit 1
}
mv "$d/libwebsockets_4.1.6.orig.tar.gz" "$tarball"
