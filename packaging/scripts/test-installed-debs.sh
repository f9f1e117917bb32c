#!/bin/bash
# Install the built rvpn .debs on this machine, run the installed programs the
# way their systemd units would (no systemd as PID 1 here: the ExecStart lines
# are taken from the installed units and run by hand, as the units' users),
# check a curl through the SOCKS port reaches a loopback HTTP server, then stop
# them by PID and purge both packages, checking /etc/rvpn and /var/lib/rvpn
# are handled as rvpn-server.postrm says.
#
#   packaging/scripts/test-installed-debs.sh [--yes] [DEBDIR]   (default ./build-deb)
#
# CI only: it installs and purges system packages and writes /etc/rvpn, so it
# runs only as root and only with CI=true or --yes, and refuses when rvpn is
# already installed or /etc/rvpn, /var/lib/rvpn or /etc/default/rvpn-server
# exist (an admin's files are never touched).  Exit 77: skipped.
# Everything listens on 127.0.0.1 only; processes are stopped by PID.
set -euo pipefail

yes=0
if [ "${1:-}" = --yes ]; then
	yes=1
	shift
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
debdir=$(cd "${1:-$root/build-deb}" && pwd)

say() { echo "test-installed-debs: $*"; }
fail() {
	local f
	for f in "${tmp:-/nonexistent}"/*.log; do
		[ -f "$f" ] && { echo "--- $f (last 30 lines)"; tail -30 "$f"; }
	done
	say "FAILED: $*" >&2
	exit 1
}
skip() { say "skipped: $*"; exit 77; }

[ "${CI:-}" = true ] || [ $yes = 1 ] || skip "CI-only (it installs and purges packages); set CI=true or pass --yes"
[ "$(id -u)" = 0 ] || skip "needs root (apt-get install, /etc/rvpn, users)"
for p in rvpn-server rvpn-client; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = not-installed ] || [ -z "$st" ] || skip "$p is already on this machine ($st): not touching it"
done
for f in /etc/rvpn /var/lib/rvpn /etc/default/rvpn-server; do
	[ ! -e "$f" ] || skip "$f exists: not touching an admin's files"
done
srv_deb=$(ls "$debdir"/rvpn-server_*.deb 2>/dev/null | head -1)
cli_deb=$(ls "$debdir"/rvpn-client_*.deb 2>/dev/null | head -1)
[ -n "$srv_deb" ] && [ -n "$cli_deb" ] || fail "no rvpn-server/rvpn-client .deb in $debdir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rvpn-installed.XXXXXX")
chmod 0755 "$tmp"
pids=()
installed=0
DYN_UID=61874 # stands in for the client unit's DynamicUser (unused uid)

cleanup() {
	local rc=$? pid
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ $installed = 1 ]; then
		rm -f /etc/default/rvpn-server /etc/rvpn/client-test.conf /etc/rvpn/client-test.key
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q rvpn-client rvpn-server >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll, bounded in time.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "timed out after ${secs}s waiting for $what"
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }

# The ExecStart= line of an installed unit, "%i" replaced by $2.
exec_start() {
	sed -n 's/^ExecStart=//p' "/lib/systemd/system/$1" | sed "s/%i/${2:-}/g"
}

# --- install ----------------------------------------------------------------
say "apt-get install $srv_deb $cli_deb"
export DEBIAN_FRONTEND=noninteractive
installed=1
apt-get install -y -q --no-install-recommends "$srv_deb" "$cli_deb" >"$tmp/apt-install.log" 2>&1 || {
	cat "$tmp/apt-install.log"
	fail "apt-get install"
}
grep -A1 'public key' "$tmp/apt-install.log" | sed 's/^/  postinst: /' || true

mode() { stat -c '%U:%G %a' "$1"; }
[ "$(mode /etc/rvpn)" = "root:root 755" ] || fail "/etc/rvpn is $(mode /etc/rvpn), expected root:root 755"
[ "$(mode /etc/rvpn/server.key)" = "rvpn:rvpn 600" ] || fail "server.key is $(mode /etc/rvpn/server.key)"
[ "$(mode /etc/rvpn/authorized_keys)" = "root:rvpn 640" ] || fail "authorized_keys is $(mode /etc/rvpn/authorized_keys)"
[ -f /usr/share/doc/rvpn-client/copyright ] && [ -f /usr/share/doc/rvpn-server/copyright ] ||
	fail "copyright files missing"
[ -f /usr/share/man/man5/rvpn.conf.5.gz ] || fail "rvpn.conf(5) missing"
say "installed: /etc/rvpn root:root 755, server.key rvpn 600, authorized_keys root:rvpn 640"

# --- the server, as rvpn-server.service runs it ---------------------------------
srv_port=$(free_port)
socks_port=$(free_port)
http_port=$(free_port)
# The admin's way to add options: /etc/default/rvpn-server (EnvironmentFile=).
# Loopback targets are denied by default: allow the test's HTTP server only.
echo "RVPN_SERVER_ARGS=\"-l 127.0.0.1:$srv_port --allow 127.0.0.1:$http_port\"" >/etc/default/rvpn-server
# StateDirectory=rvpn, StateDirectoryMode=0700, User=rvpn:
install -d -o rvpn -g rvpn -m 0700 /var/lib/rvpn
# The client key, as the admin would (client-example.conf's set-up lines).
(umask 077 && rvpn-client genkey >/etc/rvpn/client-test.key)
rvpn-client pubkey -k /etc/rvpn/client-test.key | sed 's/$/ installed-test/' >>/etc/rvpn/authorized_keys
server_pub=$(rvpn-server pubkey -k /etc/rvpn/server.key)

cmd=$(exec_start rvpn-server.service)
say "server: $cmd (as rvpn; RVPN_SERVER_ARGS from /etc/default/rvpn-server)"
(
	set -a
	. /etc/default/rvpn-server
	set +a
	eval "set -- $cmd"
	cd /
	exec setpriv --reuid rvpn --regid rvpn --init-groups -- "$@"
) >"$tmp/server.log" 2>&1 &
pids+=($!)
srv_pid=$!
wait_for 20 "rvpn-server to listen on 127.0.0.1:$srv_port" \
	bash -c "kill -0 $srv_pid && (exec 3<>/dev/tcp/127.0.0.1/$srv_port)"
alive $srv_pid || { cat "$tmp/server.log"; fail "rvpn-server exited"; }
url=$(sh -c 'rvpn-server url "$1" < /etc/rvpn/server.key' sh "ws://127.0.0.1:$srv_port")

# --- the client, as rvpn-client@test.service runs it ----------------------------
sed -e "s|^server-key = .*|server-key = $server_pub|" \
	-e "s|^url = .*|url = $url|" \
	-e "s|^socks = .*|socks = 127.0.0.1:$socks_port|" \
	-e "/^forward = /d" \
	/usr/share/doc/rvpn-client/examples/client-example.conf >/etc/rvpn/client-test.conf
chmod 0644 /etc/rvpn/client-test.conf
# LoadCredential=client.key:/etc/rvpn/client-%i.key: a private copy, mode 0400,
# owned by the dynamic user, in $CREDENTIALS_DIRECTORY.
creds=$tmp/credentials
install -d -o $DYN_UID -g $DYN_UID -m 0500 "$creds"
install -o $DYN_UID -g $DYN_UID -m 0400 /etc/rvpn/client-test.key "$creds/client.key"
cmd=$(exec_start rvpn-client@.service test)
run_client() { # as the dynamic user, with the unit's credentials
	exec env -i PATH=/usr/bin:/bin HOME=/nonexistent CREDENTIALS_DIRECTORY="$creds" \
		setpriv --reuid $DYN_UID --regid $DYN_UID --clear-groups -- "$@"
}
# Exit status 2 (RestartPreventExitStatus=2) for a config error, as a unit would see it:
set +e
env -i PATH=/usr/bin:/bin setpriv --reuid $DYN_UID --regid $DYN_UID --clear-groups -- \
	/usr/bin/rvpn-client -c /etc/rvpn/client-test.conf >"$tmp/client-nocred.log" 2>&1
rc=$?
set -e
[ $rc = 2 ] || { cat "$tmp/client-nocred.log"; fail "client without \$CREDENTIALS_DIRECTORY exited $rc, expected 2"; }
say "client without credentials: exit 2 ($(head -1 "$tmp/client-nocred.log"))"

say "client: $cmd (as uid $DYN_UID, CREDENTIALS_DIRECTORY=$creds)"
eval "set -- $cmd"
(cd / && run_client "$@") >"$tmp/client.log" 2>&1 &
pids+=($!)
cli_pid=$!
wait_for 20 "rvpn-client's SOCKS port $socks_port" \
	bash -c "kill -0 $cli_pid && (exec 3<>/dev/tcp/127.0.0.1/$socks_port)"
alive $cli_pid || { cat "$tmp/client.log"; fail "rvpn-client exited"; }

# --- a curl through the tunnel to a loopback HTTP server --------------------------
mkdir -p "$tmp/www"
head -c 65536 /dev/urandom | base64 -w 0 >"$tmp/www/blob.txt"
(cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$http_port") >"$tmp/http.log" 2>&1 &
pids+=($!)
http_pid=$!
wait_for 20 "the HTTP server" listening "$http_port"
got=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	if got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$socks_port" \
		"http://127.0.0.1:$http_port/blob.txt" 2>"$tmp/curl.err"); then
		break
	fi
	sleep 0.5 # the tunnel may still be connecting (bounded: 10 tries)
done
if [ "$got" != "$(cat "$tmp/www/blob.txt")" ]; then
	cat "$tmp/curl.err" "$tmp/server.log" "$tmp/client.log"
	fail "curl through the SOCKS port did not return the file"
fi
say "curl via SOCKS 127.0.0.1:$socks_port -> rvpn-client -> rvpn-server -> 127.0.0.1:$http_port: ${#got} bytes OK"

# --- stop by PID: both exit 0 -------------------------------------------------------
for pair in "$cli_pid:rvpn-client" "$srv_pid:rvpn-server"; do
	pid=${pair%%:*}
	kill -TERM "$pid"
	set +e
	wait "$pid"
	rc=$?
	set -e
	[ $rc = 0 ] || { cat "$tmp/server.log" "$tmp/client.log"; fail "${pair#*:} exited $rc after SIGTERM"; }
done
kill -TERM $http_pid 2>/dev/null || true
wait $http_pid 2>/dev/null || true
pids=()
[ -f /var/lib/rvpn/replay-state ] || fail "the server left no /var/lib/rvpn/replay-state"
say "both stopped with exit 0; replay state in /var/lib/rvpn"

# --- purge ------------------------------------------------------------------------------
rm -f /etc/default/rvpn-server
apt-get purge -y -q rvpn-server >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "purge rvpn-server"; }
[ ! -e /var/lib/rvpn ] || fail "/var/lib/rvpn left after purge: $(ls -A /var/lib/rvpn)"
for f in server.key authorized_keys server.conf; do
	[ ! -e /etc/rvpn/$f ] || fail "/etc/rvpn/$f left after purging rvpn-server"
done
# The admin's client files keep /etc/rvpn (never removed behind the admin's back).
[ -f /etc/rvpn/client-test.conf ] || fail "purging rvpn-server removed the admin's client config"
rm -f /etc/rvpn/client-test.conf /etc/rvpn/client-test.key
apt-get purge -y -q rvpn-client >>"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "purge rvpn-client"; }
installed=0
[ ! -e /etc/rvpn ] || fail "/etc/rvpn left after purging both: $(ls -A /etc/rvpn)"
getent passwd rvpn >/dev/null && say "system user rvpn kept (as Debian does)"
say "purged: /etc/rvpn and /var/lib/rvpn removed"
say OK
