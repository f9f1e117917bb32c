#!/usr/bin/env python3
"""test_it_exitcodes - the EXIT STATUS sections of rvpn-client(1) and
rvpn-server(8), class by class, with real invocations: 0 for a clean exit
(--help, --version, genkey/pubkey, SIGTERM), 2 for usage and configuration
errors (bad option or value, bad config file, missing/unreadable/badly moded
key files; systemd's RestartPreventExitStatus=2 relies on it), 1 for
start-up failures (a port that cannot be bound).  An unreachable server is
no failure for the client: it keeps retrying.  Owner: client-config helper."""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Proc, Runner, World, check, free_port, port_accepts,  # noqa: E402
                     wait_until)

R = Runner("exitcodes")


def run(argv, w, stdin=None, timeout=20):
    r = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                       capture_output=True, env=w.env(), timeout=timeout)
    return r.returncode, r.stderr.decode(errors="replace")


def expect(w, argv, want, what, stdin=None):
    rc, err = run(argv, w, stdin=stdin)
    check(rc == want, "%s (%s): exit %d, expected %d; stderr: %r" % (
        what, " ".join(argv[1:]), rc, want, err[-400:]))
    return err


def loose_copy(w, src, name, mode):
    path = os.path.join(w.tmp, name)
    with open(src) as f:
        data = f.read()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def client_base(w):
    return [w.client_bin, "--no-config", "-k", w.client_key, "-s", w.server_pub]


def server_base(w):
    return [w.server_bin, "-k", w.server_key, "-a", w.authorized]


def busy_port():
    """A listening socket on 127.0.0.1 (the caller closes it)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


@R.test(timeout=60)
def exit_0_for_help_version_and_keys(w):
    for b in (w.client_bin, w.server_bin):
        expect(w, [b, "--help"], 0, "--help")
        expect(w, [b, "--version"], 0, "--version")
        expect(w, [b, "genkey"], 0, "genkey")
        with open(w.client_key) as f:
            expect(w, [b, "pubkey"], 0, "pubkey < key", stdin=f)
        expect(w, [b, "pubkey", "-k", w.client_key], 0, "pubkey -k")


@R.test(timeout=60)
def exit_2_for_usage_errors(w):
    c, s = client_base(w), server_base(w)
    expect(w, c + ["--no-such-option", w.url], 2, "client unknown option")
    expect(w, c + ["-D"], 2, "client option without value")
    expect(w, c + ["-D", "127.0.0.1:99999", w.url], 2, "client bad port")
    expect(w, c + ["-L", "nonsense", w.url], 2, "client bad forward")
    expect(w, c + ["http://127.0.0.1/", ], 2, "client bad URL scheme")
    expect(w, c, 2, "client without URL")
    expect(w, c + [w.url, "extra"], 2, "client extra argument")
    expect(w, [w.client_bin, "--no-config", "-s", w.server_pub, w.url], 2, "client without -k")
    expect(w, c + ["--ca", "/x", "--insecure-tls", "wss://127.0.0.1/"], 2,
           "client --ca with --insecure-tls")
    expect(w, c + ["-vc", "/nonexistent.conf", w.url], 2, "client -c combined with -v")
    expect(w, [w.client_bin, "genkey", "extra"], 2, "genkey with an argument")
    expect(w, [w.client_bin, "pubkey", "-x"], 2, "pubkey with a bad argument")
    expect(w, s + ["--no-such-option"], 2, "server unknown option")
    expect(w, s + ["--max-sessions", "0"], 2, "server bad value")
    expect(w, [w.server_bin, "-k", w.server_key], 2, "server without -a")
    expect(w, s + ["--cert", "/x"], 2, "server --cert without --cert-key")
    with open(os.devnull) as f:
        expect(w, [w.server_bin, "pubkey"], 2, "pubkey of empty input", stdin=f)


@R.test(timeout=60)
def exit_2_for_config_files(w):
    bad = os.path.join(w.tmp, "exit-bad.conf")
    with open(bad, "w") as f:
        f.write("nonsense = 1\n")
    os.chmod(bad, 0o644)
    expect(w, [w.client_bin, "-c", bad, w.url], 2, "client bad config")
    expect(w, [w.server_bin, "-c", bad], 2, "server bad config")
    absent = os.path.join(w.tmp, "absent.conf")
    expect(w, [w.client_bin, "-c", absent, w.url], 2, "client missing config")
    expect(w, [w.server_bin, "-c", absent], 2, "server missing config")


@R.test(timeout=60)
def exit_2_for_key_files(w):
    absent = os.path.join(w.tmp, "absent.key")
    ck = loose_copy(w, w.client_key, "client-0644.key", 0o644)
    sk = loose_copy(w, w.server_key, "server-0640.key", 0o640)
    garbage = loose_copy(w, w.authorized, "garbage.key", 0o600)
    c = [w.client_bin, "--no-config", "-s", w.server_pub]
    expect(w, c + ["-k", absent, w.url], 2, "client missing key file")
    expect(w, c + ["-k", ck, w.url], 2, "client key file mode 0644")
    expect(w, c + ["-k", garbage, w.url], 2, "client key file without a key")
    expect(w, client_base(w) + ["--socks-auth", absent, w.url], 2, "client missing socks-auth")
    expect(w, client_base(w) + ["--ca", absent, "wss://127.0.0.1:%d/" % free_port()], 2,
           "client missing --ca file")
    expect(w, [w.client_bin, "pubkey", "-k", ck], 2, "pubkey -k of a mode 0644 key")
    expect(w, [w.server_bin, "pubkey", "-k", absent], 2, "pubkey -k of a missing key")
    port = str(free_port())
    expect(w, [w.server_bin, "-l", "127.0.0.1:" + port, "-k", absent, "-a", w.authorized], 2,
           "server missing key file")
    err = expect(w, [w.server_bin, "-l", "127.0.0.1:" + port, "-k", sk, "-a", w.authorized], 2,
                 "server key file mode 0640")
    check("chmod 600" in err, "server's message for a 0640 key: %r" % err)
    expect(w, [w.server_bin, "-l", "127.0.0.1:" + port, "-k", w.server_key, "-a",
               os.path.join(w.tmp, "absent_authorized_keys")], 2, "server missing authorized_keys")
    check(not port_accepts("127.0.0.1", int(port)), "a refused server listened")


@R.test(timeout=60)
def exit_1_when_a_port_cannot_be_bound(w):
    s, port = busy_port()
    try:
        err = expect(w, client_base(w) + ["-D", "127.0.0.1:%d" % port, w.url], 1,
                     "client SOCKS port in use")
        check("cannot listen" in err, "client message: %r" % err)
        err = expect(w, server_base(w) + ["-l", "127.0.0.1:%d" % port], 1,
                     "server port in use")
        check("already in use" in err, "server message: %r" % err)
    finally:
        s.close()


@R.test(timeout=60)
def unreachable_server_is_retried_then_sigterm_exits_0(w):
    # Nothing listens on the URL's port: the client must stay up (retrying)
    # with its SOCKS port open, and exit 0 on SIGTERM.
    dead, port = free_port(), free_port()
    p = Proc("client-unreachable", client_base(w) + ["-D", "127.0.0.1:%d" % port,
                                                      "ws://127.0.0.1:%d/x" % dead],
             w.tmp, env=w.env())
    try:
        wait_until(lambda: w._check_alive(p) and port_accepts("127.0.0.1", port), 20,
                   "client to listen while the server is unreachable")
        wait_until(lambda: w._check_alive(p) and p.log_text().count("tunnel connecting") >= 2,
                   20, "a second connection attempt")
        rc, _, killed = p.stop()
        check(not killed and rc == 0, "client exited %s after SIGTERM" % rc)
    finally:
        if not p.stopped:
            p.kill()
    # The server: SIGTERM after start is 0 (shared world's server is
    # checked at teardown too).
    sp = free_port()
    q = Proc("server-exit0", server_base(w) + ["-l", "127.0.0.1:%d" % sp], w.tmp, env=w.env())
    try:
        wait_until(lambda: w._check_alive(q) and port_accepts("127.0.0.1", sp), 20,
                   "server to listen")
        rc, _, killed = q.stop()
        check(not killed and rc == 0, "server exited %s after SIGTERM" % rc)
    finally:
        if not q.stopped:
            q.kill()


if __name__ == "__main__":
    R.main(lambda a: World(a, client=False))
