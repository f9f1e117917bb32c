#!/usr/bin/env python3
"""test_it_stdio - rvpn-client -W HOST:PORT (stdio mode, ssh's ProxyCommand):
one stream over stdin/stdout.

  - a real ssh with -o ProxyCommand='rvpn-client -W %h:%p ...' to a loopback
    sshd started here (own host key, config and authorized_keys in the temp
    dir, run as the current user), carrying random data through 'sha256sum';
    the client exits 0;
  - without ssh: bytes both ways at once (duplex target), and EOF each way
    (stdin's EOF reaches the target as EOF while its reply still arrives;
    the target's close ends stdout), also with stdin and stdout one
    socket; quiet stderr; the config's socks line opens no port;
  - failures: refused, not allowed and unresolvable targets exit 255 with
    one line naming HOST:PORT and the reason; a wrong server key and a
    server that is down, a tunnel cut mid-stream and SIGTERM exit 255 with a
    clear message; stdin that is a regular file is refused (exit 1); nothing
    is ever written to stdout.
The rvpn-server's access rules are the harness's (--allow 127.0.0.1 and
::1): sshd is reached only through them.  Owner: stdio helper."""

import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (MiB, NAME_DENIED, NAME_UNKNOWN, SANITIZER_RE, Proc, Relay,  # noqa: E402
                     Runner, TestSkip, World, check, free_port, log, make_keypair, metric,
                     port_accepts, wait_until)

R = Runner("stdio")

# A failure must be reported within this (the server's connect timeout is 10 s).
FAIL_WITHIN_S = 20.0


def size(w, full):
    return full // 4 if w.sanitize else full


def client_w(w, target, server_pub=None, url=None):
    return [w.client_bin, "--no-config", "-k", w.client_key, "-s", server_pub or w.server_pub,
            "-W", target] + (["-v"] if w.verbose else []) + [url or w.url]


def run_w(w, target, data=b"", timeout=60, **kw):
    """Run -W with data on stdin (then EOF); returns (rc, stdout, stderr, secs)."""
    t0 = time.monotonic()
    p = subprocess.Popen(client_w(w, target, **kw), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=w.env())
    try:
        out, err = p.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate(timeout=10)
        raise
    err = err.decode(errors="replace")
    no_sanitizer(err)
    return p.returncode, out, err, time.monotonic() - t0


def no_sanitizer(err):
    check(not SANITIZER_RE.search(err), "sanitizer report from -W:\n%s" % err[-3000:])


def quiet(err):
    """stderr of a successful run: nothing but ASan's own notes."""
    return [l for l in err.splitlines() if l.strip() and not l.startswith("==")]


# ------------------------------------------------------------------ sshd

class Sshd:
    """A loopback sshd of our own, as the current user; stopped by PID."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "sshd")
        os.makedirs(self.dir, mode=0o700)
        self.port = free_port()
        self.host_key = os.path.join(self.dir, "host_key")
        self.user_key = os.path.join(self.dir, "id")
        for path in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                           check=True, stdin=subprocess.DEVNULL, timeout=30,
                           capture_output=True)
        self.authorized = os.path.join(self.dir, "authorized_keys")
        shutil.copyfile(self.user_key + ".pub", self.authorized)
        with open(self.host_key + ".pub") as f:
            hk = f.read().split()
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (self.port, hk[0], hk[1]))
        self.config = os.path.join(self.dir, "sshd_config")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port,
                "ListenAddress 127.0.0.1",
                "HostKey %s" % self.host_key,
                "PidFile %s" % os.path.join(self.dir, "sshd.pid"),
                "AuthorizedKeysFile %s" % self.authorized,
                "UsePAM no",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "LogLevel VERBOSE",
                ""]))
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)  # privilege separation directory
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        check(os.path.isabs(sshd), "sshd must be run by its absolute path")
        self.proc = Proc("sshd", [sshd, "-D", "-e", "-f", self.config], tmp)
        wait_until(lambda: self._alive() and port_accepts("127.0.0.1", self.port), 20,
                   "sshd to listen on 127.0.0.1:%d" % self.port)

    def _alive(self):
        if not self.proc.alive():
            raise TestSkip("sshd could not start:\n%s" % self.proc.tail())
        return True

    def stop(self):
        self.proc.stop(10)


def have_ssh():
    return (shutil.which("ssh") and shutil.which("ssh-keygen") and
            (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd")))


@R.test(timeout=120)
def test_ssh_proxycommand(w):
    """ssh through -W to our sshd: random data through 'sha256sum' on the far
    side, hashes equal; ssh and the client both exit 0."""
    if not have_ssh():
        raise TestSkip("ssh/sshd not installed (packages openssh-client, openssh-server)")
    sshd = Sshd(w.tmp)
    try:
        data = os.urandom(size(w, 4 * MiB))
        status = os.path.join(sshd.dir, "client.status")
        errlog = os.path.join(sshd.dir, "client.stderr")
        # ssh ends its ProxyCommand with SIGHUP when it is done: the shell
        # ignores it so the client's own exit status is recorded.
        inner = " ".join(client_w(w, "%h:%p")) + " 2>%s; echo $? >%s" % (errlog, status)
        proxy = "sh -c 'trap \"\" HUP; %s'" % inner
        argv = ["ssh", "-F", "/dev/null", "-p", str(sshd.port), "-i", sshd.user_key,
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + sshd.known_hosts,
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=30",
                "-o", "ProxyCommand=" + proxy, "-o", "LogLevel=ERROR",
                "127.0.0.1", "sha256sum"]
        t0 = time.monotonic()
        r = subprocess.run(argv, input=data, capture_output=True, timeout=90, env=w.env())
        secs = time.monotonic() - t0
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 0, "ssh exited %d: %s\nsshd:\n%s" % (r.returncode, err[-1500:],
                                                                   sshd.proc.tail(15)))
        got = r.stdout.decode().split()[0] if r.stdout else ""
        want = hashlib.sha256(data).hexdigest()
        check(got == want, "sha256 on the far side %r, expected %r" % (got, want))
        wait_until(lambda: os.path.exists(status) and open(status).read().strip() != "", 20,
                   "the -W client to exit (status file)")
        with open(status) as f:
            rc = int(f.read().strip())
        with open(errlog) as f:
            cerr = f.read()
        no_sanitizer(cerr)
        check(rc == 0, "the -W client exited %d; stderr: %r" % (rc, cerr[-1500:]))
        check(not quiet(cerr) or w.verbose, "the -W client was not quiet: %r" % cerr[-800:])
        check("Accepted publickey" in sshd.proc.log_text(),
              "sshd did not log the login:\n%s" % sshd.proc.tail(15))
        metric("stdio_ssh_sha256_mib_s", round(len(data) / MiB / secs, 1), "MiB/s")
        log("ssh -W: %d bytes through sha256sum in %.2f s" % (len(data), secs))
    finally:
        sshd.stop()


@R.test(timeout=90)
def test_bytes_both_ways(w):
    """Duplex target: up and down at the same time, both checksummed."""
    up_len = down_len = size(w, 4 * MiB)
    up = os.urandom(up_len)
    payload = struct.pack(">QQ", up_len, down_len) + up + hashlib.sha256(up).digest()
    rc, out, err, secs = run_w(w, "127.0.0.1:%d" % w.targets.ports["duplex"], payload)
    check(rc == 0, "exit %d, stderr %r" % (rc, err[-800:]))
    check(len(out) == down_len + 33, "got %d bytes down, expected %d" % (len(out), down_len + 33))
    check(hashlib.sha256(out[:down_len]).digest() == out[down_len:down_len + 32],
          "the download's checksum does not match")
    check(out[-1] == 1, "the target says the upload's checksum did not match")
    check(not quiet(err) or w.verbose, "not quiet on success: %r" % err[-800:])
    metric("stdio_duplex_mib_s", round((up_len + down_len) / MiB / secs, 1), "MiB/s")


@R.test(timeout=90)
def test_eof_both_ways(w):
    """halfclose target: it answers only after reading EOF, so stdin's EOF
    must reach it while the stream stays open for its reply; its close then
    ends stdout and the client exits 0.  The echo target the same way round
    (by IPv6 literal and by name)."""
    up = os.urandom(size(w, 2 * MiB))
    rc, out, err, _ = run_w(w, "127.0.0.1:%d" % w.targets.ports["halfclose"], up)
    check(rc == 0, "halfclose: exit %d, stderr %r" % (rc, err[-800:]))
    check(len(out) == 32 + 4 * MiB + 32, "halfclose: got %d bytes" % len(out))
    check(out[:32] == hashlib.sha256(up).digest(),
          "halfclose: the target saw other bytes than we sent before EOF")
    body = out[32:-32]
    check(hashlib.sha256(body).digest() == out[-32:], "halfclose: reply corrupted")
    for target in ("[::1]:%d" % w.targets.ports["echo"],
                   "www.test.rvpn:%d" % w.targets.ports["echo"]):
        data = os.urandom(100000)
        rc, out, err, _ = run_w(w, target, data)
        check(rc == 0 and out == data, "echo via %s: exit %d, %d of %d bytes back; %r" % (
            target, rc, len(out), len(data), err[-400:]))
    # stdin and stdout one socket (a socketpair, as some ProxyCommand
    # callers give): the target's close is a shutdown(SHUT_WR) we read as
    # EOF while our own half stays writable until we shut it.
    ours, theirs = socket.socketpair()
    p = subprocess.Popen(client_w(w, "127.0.0.1:%d" % w.targets.ports["halfclose"]),
                         stdin=theirs, stdout=theirs, stderr=subprocess.PIPE, env=w.env())
    theirs.close()
    try:
        ours.settimeout(30)
        ours.sendall(up)
        ours.shutdown(socket.SHUT_WR)
        got = bytearray()
        for _ in range(100000):
            d = ours.recv(MiB)
            if not d:
                break
            got += d
        rc = p.wait(timeout=FAIL_WITHIN_S)
        err = p.stderr.read().decode(errors="replace")
        no_sanitizer(err)
        check(rc == 0, "socketpair: exit %d; %r" % (rc, err[-400:]))
        check(len(got) == 32 + 4 * MiB + 32 and bytes(got[:32]) == hashlib.sha256(up).digest(),
              "socketpair: got %d bytes" % len(got))
    finally:
        ours.close()
        close_popen(p)
    # Nothing at all on stdin: EOF at once, the echo closes, exit 0.
    rc, out, err, _ = run_w(w, "127.0.0.1:%d" % w.targets.ports["echo"], b"")
    check(rc == 0 and out == b"", "empty echo: exit %d, %d bytes; %r" % (rc, len(out), err))


@R.test(timeout=60)
def test_config_and_no_listeners(w):
    """The usual config (with a socks line, as 'import' writes it) serves -W
    too: its socks port is not opened; the stream works and ends with 0."""
    socks = free_port()
    cfg = os.path.join(w.tmp, "stdio.conf")
    with open(cfg, "w") as f:
        f.write("key = %s\nserver-key = %s\nurl = %s\nsocks = 127.0.0.1:%d\n" % (
            w.client_key, w.server_pub, w.url, socks))
    p = subprocess.Popen([w.client_bin, "-c", cfg, "-W",
                          "127.0.0.1:%d" % w.targets.ports["echo"]],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=w.env())
    try:
        p.stdin.write(b"ping")
        p.stdin.flush()
        check(p.stdout.read(4) == b"ping", "no echo through -W with -c")
        check(not port_accepts("127.0.0.1", socks), "-W opened the config's socks port")
        p.stdin.close()
        check(p.stdout.read() == b"", "bytes after the echo")
        rc = p.wait(timeout=FAIL_WITHIN_S)
        err = p.stderr.read().decode(errors="replace")
        no_sanitizer(err)
        check(rc == 0, "exit %d; stderr %r" % (rc, err[-600:]))
        check(not quiet(err), "not quiet: %r" % err[-600:])
    finally:
        close_popen(p)


def expect_fail(w, target, want_rc, words, what, **kw):
    rc, out, err, secs = run_w(w, target, b"", timeout=FAIL_WITHIN_S + 30, **kw)
    lines = [l for l in err.splitlines() if l.startswith("rvpn-client")]
    check(rc == want_rc if want_rc is not None else rc != 0,
          "%s: exit %d, expected %s; stderr %r" % (what, rc, want_rc or "non-zero", err[-800:]))
    check(out == b"", "%s: %d bytes written to stdout" % (what, len(out)))
    check(secs < FAIL_WITHIN_S, "%s: took %.1f s" % (what, secs))
    for word in words:
        check(any(word in l for l in lines), "%s: no line with %r on stderr: %r" % (
            what, word, err[-800:]))
    log("%s (%.1f s): %s" % (what, secs, lines[-1] if lines else err.strip()[-200:]))
    return err


@R.test(timeout=150)
def test_failures(w):
    refused = free_port()  # nothing listens there
    expect_fail(w, "127.0.0.1:%d" % refused, 255, ["127.0.0.1:%d" % refused, "refused"],
                "refused port")
    expect_fail(w, "%s:22" % NAME_DENIED, 255, ["%s:22" % NAME_DENIED, "not allowed"],
                "target outside the access rules")
    expect_fail(w, "%s:22" % NAME_UNKNOWN, 255, ["%s:22" % NAME_UNKNOWN, "resolve"],
                "unresolvable name")
    other = make_keypair(w.server_bin, os.path.join(w.tmp, "other.key"))
    expect_fail(w, "127.0.0.1:%d" % w.targets.ports["echo"], 255, ["tunnel", "key"],
                "wrong server key", server_pub=other)
    down = free_port()
    expect_fail(w, "127.0.0.1:%d" % w.targets.ports["echo"], 255,
                ["tunnel", "127.0.0.1:%d" % down], "server down",
                url="ws://127.0.0.1:%d%s" % (down, w.path))
    # stdin a regular file: refused with a clear message, at once.
    path = os.path.join(w.tmp, "stdin.file")
    with open(path, "wb") as f:
        f.write(b"x" * 100)
    with open(path, "rb") as f:
        t0 = time.monotonic()
        r = subprocess.run(client_w(w, "127.0.0.1:%d" % w.targets.ports["echo"]), stdin=f,
                           capture_output=True, timeout=30, env=w.env())
    err = r.stderr.decode(errors="replace")
    no_sanitizer(err)
    check(r.returncode == 1 and "stdin" in err and r.stdout == b"",
          "stdin a regular file: exit %d, stderr %r" % (r.returncode, err[-400:]))
    check(time.monotonic() - t0 < 10, "stdin a regular file: took too long")
    # -W with -D: a usage error (exit 2), no port opened.
    r = subprocess.run([w.client_bin, "--no-config", "-k", w.client_key, "-s", w.server_pub,
                        "-D", "127.0.0.1:%d" % free_port(), "-W", "127.0.0.1:22", w.url],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30, env=w.env())
    check(r.returncode == 2 and b"-W" in r.stderr, "-W with -D: exit %d, %r" % (
        r.returncode, r.stderr[-300:]))


def open_echo(w, url=None):
    """-W to the echo target with one round trip done; returns the Popen."""
    p = subprocess.Popen(client_w(w, "127.0.0.1:%d" % w.targets.ports["echo"], url=url),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=w.env())
    p.stdin.write(b"ping")
    p.stdin.flush()
    check(p.stdout.read(4) == b"ping", "no echo through -W")
    return p


def close_popen(p):
    if p.poll() is None:
        p.kill()
        p.wait(10)
    for f in (p.stdin, p.stdout, p.stderr):
        try:
            if f is not None:
                f.close()
        except OSError:
            pass


@R.test(timeout=60)
def test_tunnel_dies_mid_stream(w):
    """The WebSocket is cut (a relay in between closes it) while the stream
    is open: exit 255 at once with a line naming the target, no reconnect."""
    relay = Relay(w.server_port)
    p = None
    try:
        p = open_echo(w, url="ws://127.0.0.1:%d%s" % (relay.port, w.path))
        t0 = time.monotonic()
        for c in list(relay.conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        relay.close()
        rc = p.wait(timeout=FAIL_WITHIN_S)
        err = p.stderr.read().decode(errors="replace")
        no_sanitizer(err)
        rest = p.stdout.read()
        check(rc == 255, "exit %d after the tunnel died; stderr %r" % (rc, err[-600:]))
        check("127.0.0.1:%d" % w.targets.ports["echo"] in err and "lost" in err,
              "no clear line on stderr: %r" % err[-600:])
        check(rest == b"", "%d more bytes on stdout" % len(rest))
        log("tunnel cut: exit %d after %.2f s: %s" % (rc, time.monotonic() - t0,
                                                      err.strip().splitlines()[-1]))
    finally:
        relay.close()
        if p is not None:
            close_popen(p)


@R.test(timeout=60)
def test_signal_ends_it(w):
    """SIGTERM while the stream is open: the client exits at once with 255
    (the stream did not end), never hangs."""
    p = open_echo(w)
    try:
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=15)
        no_sanitizer(p.stderr.read().decode(errors="replace"))
        check(rc == 255, "exit %s after SIGTERM mid-stream, expected 255" % rc)
        check(time.monotonic() - t0 < 10, "slow exit after SIGTERM")
    finally:
        close_popen(p)


if __name__ == "__main__":
    R.main(lambda args: World(args, client=False))
