#!/usr/bin/env python3
"""test_it_config - config files (rvpn.conf(5)): rvpn-client -c FILE carries
a working tunnel with every option from the file, ~/.config/rvpn/client.conf
is read by default (--no-config skips it), the command line wins over the
file, "credential:NAME" reads $CREDENTIALS_DIRECTORY/NAME (how the systemd
unit passes secrets), and every error in a file names FILE:LINE and exits 2
(both programs).  Owner: client-config helper."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Proc, Runner, World, check, free_port, http_get_raw,  # noqa: E402
                     socks_open, wait_until, port_accepts)

R = Runner("config")


def write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def client_conf(w, socks_port, key=None, extra=""):
    return ("# written by test_it_config\n"
            "key = %s\n"
            "server-key = %s\n"
            "url = %s\n"
            "socks = 127.0.0.1:%d\n"
            "%s" % (key or w.client_key, w.server_pub, w.url, socks_port, extra))


def run_client(w, args, env=None, timeout=20):
    """A client invocation expected to exit by itself: (rc, stderr)."""
    e = w.env()
    e.update(env or {})
    r = subprocess.run([w.client_bin] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       env=e, timeout=timeout)
    return r.returncode, r.stderr.decode(errors="replace")


def http_through(port, w):
    s = socks_open(port, "127.0.0.1", w.targets.http_port, timeout=20)
    try:
        st, _h, body = http_get_raw(s, "127.0.0.1", "/")
        check(st == 200 and body == w.targets.files["/"],
              "HTTP through SOCKS port %d: status %d, %d bytes" % (port, st, len(body)))
    finally:
        s.close()


def start_and_check(w, name, args, port, env=None, fwd_port=None):
    e = w.env()
    e.update(env or {})
    p = Proc(name, [w.client_bin] + args, w.tmp, env=e)
    try:
        w.wait_client(proxy_port=port, proc=p)
        http_through(port, w)
        if fwd_port is not None:
            wait_until(lambda: port_accepts("127.0.0.1", fwd_port), 10, "forward port")
        rc, _, killed = p.stop()
        check(not killed and rc == 0, "%s exited %s after SIGTERM" % (name, rc))
        return p
    finally:
        if not p.stopped:
            p.kill()


@R.test(timeout=90)
def client_config_file_carries_the_tunnel(w):
    port, fwd = free_port(), free_port()
    conf = write(os.path.join(w.tmp, "client.conf"), client_conf(
        w, port, extra="forward = 127.0.0.1:%d:127.0.0.1:%d\nverbose = no\n" % (
            fwd, w.targets.http_port)))
    p = start_and_check(w, "client-conf", ["-c", conf], port, fwd_port=fwd)
    # The forward from the file works too.
    check("listening on 127.0.0.1:%d" % port in p.log_text(),
          "no SOCKS listener from the config:\n%s" % p.tail())


@R.test(timeout=90)
def default_config_in_home_and_no_config(w):
    home = os.path.join(w.tmp, "home")
    os.makedirs(os.path.join(home, ".config", "rvpn"), mode=0o700, exist_ok=True)
    port = free_port()
    write(os.path.join(home, ".config", "rvpn", "client.conf"), client_conf(w, port))
    start_and_check(w, "client-default", [], port, env={"HOME": home})
    # --no-config: the URL (and everything else) is missing.
    rc, err = run_client(w, ["--no-config"], env={"HOME": home})
    check(rc == 2 and "missing the server URL" in err,
          "--no-config: exit %d, %r (expected 2, missing URL)" % (rc, err))


@R.test(timeout=90)
def command_line_wins_and_adds(w):
    bad_port, port, extra = free_port(), free_port(), free_port()
    conf = write(os.path.join(w.tmp, "wins.conf"), client_conf(w, bad_port).replace(
        "url = %s" % w.url, "url = ws://127.0.0.1:1/nowhere"))
    # The command-line URL replaces the file's; -D adds to the file's socks.
    p = start_and_check(w, "client-wins", ["-c", conf, "-D", "127.0.0.1:%d" % extra, w.url],
                        extra)
    check("127.0.0.1:%d" % bad_port in p.log_text(),
          "the config's socks listener is missing:\n%s" % p.tail())


@R.test(timeout=90)
def credential_values_use_credentials_directory(w):
    creds = os.path.join(w.tmp, "creds")
    os.makedirs(creds, mode=0o700, exist_ok=True)
    with open(w.client_key) as f:
        write(os.path.join(creds, "client.key"), f.read(), 0o400)
    write(os.path.join(creds, "socks-auth"), "user:secret\n", 0o400)
    port = free_port()
    conf = write(os.path.join(w.tmp, "cred.conf"), client_conf(
        w, port, key="credential:client.key", extra="socks-auth = credential:socks-auth\n"),
        0o644)
    e = w.env()
    e["CREDENTIALS_DIRECTORY"] = creds
    p = Proc("client-cred", [w.client_bin, "-c", conf], w.tmp, env=e)
    try:
        wait_until(lambda: w._check_alive(p) and port_accepts("127.0.0.1", port), 20,
                   "client with credentials to listen")
        s = socks_open(port, "127.0.0.1", w.targets.http_port, timeout=20,
                       auth=("user", "secret"))
        try:
            st, _h, _b = http_get_raw(s, "127.0.0.1", "/")
            check(st == 200, "HTTP through the credential-configured client: %d" % st)
        finally:
            s.close()
    finally:
        p.stop()
    # Without $CREDENTIALS_DIRECTORY: exit 2 naming the line.
    rc, err = run_client(w, ["-c", conf])
    check(rc == 2 and "%s:2:" % conf in err and "CREDENTIALS_DIRECTORY" in err,
          "credential without $CREDENTIALS_DIRECTORY: exit %d, %r" % (rc, err))


@R.test(timeout=60)
def client_errors_name_file_and_line(w):
    cases = [
        # (config text after the good lines, expected line, text in the message)
        ("socks = 127.0.0.1:notaport\n", 6, "-D"),
        ("frobnicate = 1\n", 6, "unknown option 'frobnicate'"),
        ("insecure-tls = maybe\n", 6, "yes or no"),
        ("forward = 1:2\n", 6, "-L"),
        ("just some words\n", 6, "expected 'name = value'"),
        ("config = /etc/other\n", 6, "unknown option 'config'"),
    ]
    for i, (tail, line, what) in enumerate(cases):
        conf = write(os.path.join(w.tmp, "bad%d.conf" % i),
                     client_conf(w, free_port()) + tail, 0o644)
        rc, err = run_client(w, ["-c", conf])
        check(rc == 2, "config %r: exit %d, expected 2: %r" % (tail, rc, err))
        check("%s:%d:" % (conf, line) in err and what in err,
              "config %r: message %r lacks %s:%d: and %r" % (tail, err, conf, line, what))
    # A value that only fails later (the key file) still names its line.
    loose = write(os.path.join(w.tmp, "loose.key"), open(w.client_key).read(), 0o644)
    conf = write(os.path.join(w.tmp, "badkey.conf"), client_conf(w, free_port(), key=loose))
    rc, err = run_client(w, ["-c", conf])
    check(rc == 2 and "%s:2:" % conf in err and "chmod 600" in err,
          "key file mode 0644 from the config: exit %d, %r" % (rc, err))
    # A config file others may write is refused as a whole.
    conf = write(os.path.join(w.tmp, "open.conf"), client_conf(w, free_port()), 0o666)
    rc, err = run_client(w, ["-c", conf])
    check(rc == 2 and "writable" in err, "mode 0666 config: exit %d, %r" % (rc, err))
    rc, err = run_client(w, ["-c", os.path.join(w.tmp, "absent.conf")])
    check(rc == 2 and "absent.conf" in err, "missing config: exit %d, %r" % (rc, err))


@R.test(timeout=60)
def server_errors_name_file_and_line(w):
    conf = write(os.path.join(w.tmp, "server-bad.conf"),
                 "key = %s\nauthorized-keys = %s\nmax-sessions = lots\n" % (
                     w.server_key, w.authorized), 0o644)
    r = subprocess.run([w.server_bin, "-c", conf], capture_output=True, timeout=20,
                       env=w.env())
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 2 and ("%s line 3" % conf in err or "%s:3" % conf in err),
          "server bad value in config: exit %d, %r" % (r.returncode, err))
    conf = write(os.path.join(w.tmp, "server-bad2.conf"), "key = %s\nlisten 1\n" % w.server_key,
                 0o644)
    r = subprocess.run([w.server_bin, "-c", conf], capture_output=True, timeout=20,
                       env=w.env())
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 2 and "%s:2:" % conf in err,
          "server syntax error in config: exit %d, %r" % (r.returncode, err))


if __name__ == "__main__":
    R.main(lambda a: World(a, client=False))
