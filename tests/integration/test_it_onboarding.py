#!/usr/bin/env python3
"""Onboarding a client in two steps, with the real programs: `rvpn-server
add-client alice --url ws://...` (key pair, authorized_keys line, SIGHUP to
the running server, config + rvpn:// URL + QR code on stdout) and
`rvpn-client import URL` (config and key files); the client started from the
imported file carries a curl; `remove-client alice` ends that client's
stream within a bound.  Also: refusals (duplicate name/key, bad name, files
that exist), --public-key (no private key anywhere), list-clients and
show-config (values and their sources: default, config file line, command
line).

The client config file (-c) is being added to rvpn-client separately: the
client here is started with the equivalent command-line options, read from
the imported file by conf_to_argv()."""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Proc, Runner, TestSkip, World, check, free_port, make_keypair,  # noqa: E402
                     metric, socks_connect, socks_open, wait_closed, wait_until)

R = Runner("onboarding")

REVOKE_BOUND_S = 10   # server grace is 2 s; slack for ASan
QR_CHARS = set(" \u2580\u2584\u2588")
QR_MARGIN = 2


def run(argv, env=None, timeout=30):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def admin(w, cmd, *args):
    """rvpn-server CMD ARGS... with the running server's own options."""
    return run([w.server_bin, cmd] + list(args) + w.server_argv()[1:], env=w.env())


def read(path):
    with open(path) as f:
        return f.read()


def conf_to_argv(path):
    """The rvpn-client command-line options a client config file stands for
    (url, server-key, key, socks)."""
    vals = {}
    for line in read(path).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, sep, v = line.partition("=")
        check(sep, "config line without '=': %r" % line)
        vals[k.strip()] = v.strip()
    for k in ("url", "server-key", "key", "socks"):
        check(k in vals, "imported config has no '%s': %r" % (k, vals))
    return ["-k", vals["key"], "-s", vals["server-key"], "-D", vals["socks"], vals["url"]]


def check_qr(out):
    """The QR block: header names the version; the right number of lines,
    all as wide as the code plus margins, only block characters."""
    m = re.search(r"^# QR code of the URL \(version (\d+), (\d+)x\2 modules, (\d+) lines\):$",
                  out, re.M)
    check(m, "no QR code header in:\n%s" % out)
    version, width = int(m.group(1)), int(m.group(2))
    check(width == 17 + 4 * version, "QR width %d for version %d" % (width, version))
    size = width + 2 * QR_MARGIN
    want_lines = (size + 1) // 2
    check(int(m.group(3)) == want_lines, "header says %s lines" % m.group(3))
    lines = out[m.end() + 1:].splitlines()[:want_lines]
    check(len(lines) == want_lines, "QR code has %d lines, want %d" % (len(lines), want_lines))
    for i, l in enumerate(lines):
        check(len(l) == size and set(l) <= QR_CHARS,
              "QR line %d: %d chars %r, want %d block characters" % (i, len(l), l[:20], size))
    # Quiet zone: first and last line are all light (full blocks).
    check(set(lines[0]) == {"\u2588"}, "QR top margin is not light")
    # Finder pattern at (margin, margin): rows 0 and 1 are one text line;
    # row 0 is dark, row 1 dark-light*5-dark (dark = space: light on dark).
    check(lines[QR_MARGIN // 2][QR_MARGIN:QR_MARGIN + 7] == " " + "\u2584" * 5 + " ",
          "no finder pattern where it belongs: %r" % lines[QR_MARGIN // 2])
    return version, want_lines


def url_of(out):
    urls = [l for l in out.splitlines() if l.startswith("rvpn://")]
    check(len(urls) == 1, "want one rvpn:// line in the output, got %d:\n%s" % (len(urls), out))
    return urls[0]


def curl_through(w, port):
    """curl via the SOCKS5 port to the HTTP target; returns the body."""
    r = subprocess.run(["curl", "-sS", "--max-time", "15", "--socks5-hostname",
                        "127.0.0.1:%d" % port,
                        "http://127.0.0.1:%d/" % w.targets.http_port],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    check(r.returncode == 0, "curl through the imported client failed (%d): %s" % (
        r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout


@R.test(timeout=120)
def two_step_onboarding_and_removal(w):
    if shutil.which("curl") is None:
        raise TestSkip("no curl")
    before = read(w.authorized)
    off = w.server.log_size()
    t0 = time.monotonic()
    steps = 0
    # Step 1, on the server.
    rc, out, err = admin(w, "add-client", "alice", "--url", "ws://127.0.0.1:%d" % w.server_port)
    steps += 1
    check(rc == 0, "add-client exit %d: %s" % (rc, err))
    check("reloaded the running server (pid %d" % w.server.pid in err,
          "add-client did not reload the server:\n%s" % err)
    wait_until(lambda: "1 added" in w.server.log_since(off), 10, "the server's reload")
    after = read(w.authorized)
    check(after.startswith(before), "add-client changed the existing lines")
    added = after[len(before):].splitlines()
    check(len(added) == 1 and added[0].endswith(" alice") and len(added[0]) == 44 + 6,
          "added lines: %r" % added)
    check(stat.S_IMODE(os.stat(w.authorized).st_mode) == 0o644, "authorized_keys mode changed")
    url = url_of(out)
    check(url.startswith("rvpn://") and "&key=" in url and url.endswith("&name=alice"),
          "URL %r" % url)
    check(re.search(r"^url = ws://127\.0\.0\.1:%d%s$" % (w.server_port, re.escape(w.path)),
                    out, re.M), "config's url line:\n%s" % out)
    check("-----BEGIN RVPN CLIENT PRIVATE KEY-----" in out, "no private key block")
    version, qr_lines = check_qr(out)
    metric("onboarding_qr_version", version)
    metric("onboarding_qr_lines", qr_lines)
    # Step 2, on the client (HOME is a fresh directory).
    home = tempfile.mkdtemp(prefix="rvpn-it-home-", dir=w.tmp)
    env = dict(w.env(), HOME=home)
    socks = free_port()
    confdir = os.path.join(w.tmp, "alice")
    os.mkdir(confdir, 0o700)
    conf = os.path.join(confdir, "client.conf")
    rc, iout, ierr = run([w.client_bin, "import", url, "-o", conf,
                          "--socks", "127.0.0.1:%d" % socks], env=env)
    steps += 1
    check(rc == 0, "import exit %d: %s" % (rc, ierr))
    key = os.path.join(confdir, "client.key")
    check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, "key file mode")
    metric("onboarding_steps", steps)
    metric("onboarding_commands_s", time.monotonic() - t0, "s")
    # Importing again without --force is refused and changes nothing.
    old = read(conf)
    rc, _o, ierr = run([w.client_bin, "import", url, "-o", conf], env=env)
    check(rc != 0 and "--force" in ierr and read(conf) == old, "second import: %d %s" % (rc, ierr))
    # The default place: ~/.config/rvpn (0700), client.conf + client.key (0600).
    rc, _o, ierr = run([w.client_bin, "import", url], env=env)
    check(rc == 0, "import to the default place: %s" % ierr)
    d = os.path.join(home, ".config", "rvpn")
    check(stat.S_IMODE(os.stat(d).st_mode) == 0o700, "~/.config/rvpn mode")
    check(stat.S_IMODE(os.stat(os.path.join(d, "client.key")).st_mode) == 0o600,
          "~/.config/rvpn/client.key mode")
    check(read(os.path.join(d, "client.key")) == read(key), "the two imports differ")
    # The client, from the imported file.
    argv = [w.client_bin] + conf_to_argv(conf)
    client = Proc("rvpn-client-alice", argv, w.tmp, env=w.env())
    w.extra_clients.append(client)
    t1 = time.monotonic()
    w.wait_client(proxy_port=socks, proc=client)
    metric("onboarding_client_ready_s", time.monotonic() - t1, "s")
    body = curl_through(w, socks)
    check(body == w.targets.files["/"], "curl got %d bytes, not the index" % len(body))
    # remove-client: the live stream ends, new ones fail.
    s = socks_open(socks, "127.0.0.1", w.targets.ports["echo"], timeout=20)
    off = w.server.log_size()
    t2 = time.monotonic()
    rc, _o, err = admin(w, "remove-client", "alice")
    check(rc == 0 and "reloaded the running server" in err, "remove-client: %d %s" % (rc, err))
    closed = wait_closed(s, REVOKE_BOUND_S)
    secs = time.monotonic() - t2
    s.close()
    check(closed, "alice's stream still open %d s after remove-client" % REVOKE_BOUND_S)
    metric("onboarding_remove_stream_closed_s", secs, "s")
    check("1 removed" in w.server.log_since(off), "the server did not log the removal")
    check(read(w.authorized) == before, "remove-client did not restore the file:\n%s" %
          read(w.authorized))
    r = socks_connect(socks, "127.0.0.1", w.targets.http_port, timeout=30)
    r.close()
    check(r.rep != 0, "a new stream from the removed client worked")


@R.test(timeout=60)
def refusals_and_public_key(w):
    before = read(w.authorized)
    rc, _o, err = admin(w, "add-client", "bad name!")
    check(rc == 2 and "not a client name" in err, "bad name: %d %s" % (rc, err))
    rc, _o, err = admin(w, "add-client", "test-client", "--no-reload")
    check(rc == 1 and "exists already" in err, "duplicate name: %d %s" % (rc, err))
    rc, _o, err = admin(w, "add-client", "other", "--public-key", w.client_pub, "--no-reload")
    check(rc == 1 and "authorized already" in err, "duplicate key: %d %s" % (rc, err))
    check(read(w.authorized) == before, "a refused add-client changed the file")
    rc, _o, err = admin(w, "remove-client", "nobody", "--no-reload")
    check(rc == 1 and "no client named" in err, "remove unknown: %d %s" % (rc, err))
    # --public-key: the printed config and URL hold no private key.
    kp = os.path.join(w.tmp, "bob.key")
    bob_pub = make_keypair(w.client_bin, kp)
    rc, out, err = admin(w, "add-client", "bob", "--public-key", bob_pub, "--no-qr",
                         "--url", "wss://vpn.example.com")
    check(rc == 0, "add-client --public-key: %s" % err)
    url = url_of(out)
    check("key=" not in url and "PRIVATE KEY" not in out and "QR code" not in out,
          "--public-key output holds a private key or a QR code:\n%s" % out)
    check("@vpn.example.com:443/" in url and "tls=1" in url, "URL %r" % url)
    home = tempfile.mkdtemp(prefix="rvpn-it-home-", dir=w.tmp)
    p = subprocess.run([w.client_bin, "import", "-"], input=out.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(w.env(), HOME=home), timeout=30)
    check(p.returncode == 0, "import - : %s" % p.stderr.decode(errors="replace"))
    check(not os.path.exists(os.path.join(home, ".config", "rvpn", "client.key")) and
          b"holds no private key" in p.stdout, "import wrote a key it did not have")
    rc, _o, err = admin(w, "remove-client", "bob", "--no-reload")
    check(rc == 0 and read(w.authorized) == before, "remove bob: %s" % err)


@R.test(timeout=60)
def list_clients_and_show_config(w):
    rc, out, err = admin(w, "list-clients")
    check(rc == 0, "list-clients: %s" % err)
    check(re.search(r"^test-client\s+%s\.\.\.\s+2$" % re.escape(w.client_pub[:8]), out, re.M),
          "list-clients does not show test-client:\n%s" % out)
    conf = os.path.join(w.tmp, "show.conf")
    with open(conf, "w") as f:
        f.write("# show-config test\nmax-streams = 77\nmax-sessions = 5\n")
    os.chmod(conf, 0o600)
    rc, out, err = admin(w, "show-config", "-c", conf, "--max-sessions", "9")
    check(rc == 0, "show-config: %s" % err)
    want = [r"^max-streams = 77\s+# %s:2$" % re.escape(conf),
            r"^max-sessions = 9\s+# command line \(overrides %s:3\)$" % re.escape(conf),
            r"^listen = 127\.0\.0\.1:%d\s+# command line$" % w.server_port,
            r"^idle-timeout = \d+\s+# default$",
            r"^allow = 127\.0\.0\.1\s+# command line$",
            r"^allow = ::1\s+# command line$",
            r"^path = %s\s+# command line$" % re.escape(w.path)]
    for pat in want:
        check(re.search(pat, out, re.M), "show-config lacks %s:\n%s" % (pat, out))


if __name__ == "__main__":
    R.main(make_world=lambda a: World(a, client=False))
