#!/bin/sh
# Apply rvpn's patches to the libwebsockets source tree:
#   packaging/scripts/apply-lws-patches.sh PATCHDIR SOURCEDIR
# Applies PATCHDIR/*.patch (patch -p1) in name order.  Idempotent: a patch
# that is already applied (it reverses cleanly) is skipped, so re-running on
# a patched tree succeeds.  A patch that neither applies nor is already
# applied stops the build with an error.  Used as the PATCH_COMMAND of the
# lws build (packaging/cmake/libwebsockets.cmake), so the .deb build gets the
# same patches.  See packaging/lws-patches/README.md.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 PATCHDIR SOURCEDIR" >&2
	exit 2
fi
pdir=$1
src=$2
[ -d "$pdir" ] || { echo "apply-lws-patches: no directory $pdir" >&2; exit 1; }
[ -d "$src" ] || { echo "apply-lws-patches: no directory $src" >&2; exit 1; }
command -v patch >/dev/null || { echo "apply-lws-patches: 'patch' is not installed" >&2; exit 1; }

# Name order, independent of the locale.
list=$(cd "$pdir" && LC_ALL=C ls -1 -- *.patch 2>/dev/null || true)
for name in $list; do
	p=$pdir/$name
	if patch -d "$src" -p1 -N -s --dry-run -i "$p" >/dev/null 2>&1; then
		patch -d "$src" -p1 -N -s -i "$p" || {
			echo "apply-lws-patches: $name failed to apply" >&2; exit 1; }
		echo "apply-lws-patches: applied $name"
	elif patch -d "$src" -p1 -R -s -f --dry-run -i "$p" >/dev/null 2>&1; then
		echo "apply-lws-patches: $name already applied"
	else
		echo "apply-lws-patches: $name does not apply to $src:" >&2
		patch -d "$src" -p1 -N --dry-run -i "$p" >&2 || true
		exit 1
	fi
done
