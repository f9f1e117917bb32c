"""rvpn_it - the integration-test harness (Python 3 standard library only).

Owner: integration helper.  Every tests/integration/test_it_*.py script uses
it: a World starts throw-away keys, an authorized_keys file, dnsmasq on a free
loopback port (test names only, NXDOMAIN for the rest, nothing forwarded),
local targets (HTTP on 127.0.0.1 and ::1, echo, SHA-256 duplex, sink that can
stop reading, half-close responders), rvpn-server and rvpn-client; it stops
only the processes it started, by PID.  A Runner runs the tests, each with a
hard timeout (SIGALRM), and prints "N passed, N failed".

Everything listens on 127.0.0.1/::1 and connects only there; every wait is a
poll bounded in count and time (wait_until), never a bare sleep.

Environment knobs (all optional):
  RVPN_IT_VERBOSE=1      pass -v to both programs
  RVPN_IT_LARGE=1        big sizes: 1 GiB large stream and backpressure
  RVPN_IT_KEEP=1         keep the temporary directory (logs) afterwards
  RVPN_IT_RESULTS=FILE   append measured numbers as JSON lines
"""

import asyncio
import base64
import hashlib
import http.server
import ipaddress
import json
import os
import pwd
import grp
import random
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

MiB = 1024 * 1024
GiB = 1024 * MiB

# Sanitizer reports in a program's output fail the test that owns it.
SANITIZER_RE = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"SUMMARY: UndefinedBehaviorSanitizer|SUMMARY: AddressSanitizer")

# Test names served by dnsmasq (see Dns).  Everything else is NXDOMAIN.
NAME_V4 = "www.test.rvpn"      # A 127.0.0.1 only
NAME_V6 = "v6.test.rvpn"       # AAAA ::1 only
NAME_DUAL = "dual.test.rvpn"   # both
NAME_DENIED = "denied.test.rvpn"  # A 127.0.0.2: loopback, not allowed
NAME_UNKNOWN = "no-such-host.invalid"


class TestFailure(AssertionError):
    pass


class TestSkip(Exception):
    pass


class TestTimeout(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def log(msg):
    print(msg, flush=True)


_results_file = os.environ.get("RVPN_IT_RESULTS")


def metric(name, value, unit=""):
    """A measured number: printed as 'METRIC name = value unit' and appended
    to $RVPN_IT_RESULTS as a JSON line when set."""
    if isinstance(value, float):
        text = "%.2f" % value
    else:
        text = str(value)
    log("METRIC %s = %s %s" % (name, text, unit))
    if _results_file:
        with open(_results_file, "a") as f:
            f.write(json.dumps({"metric": name, "value": value, "unit": unit,
                                "time": time.time()}) + "\n")


def wait_until(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns a true value; bounded in time and count.
    Returns the value; raises TestFailure naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 2
    last_exc = None
    for _ in range(tries):
        try:
            v = pred()
            if v:
                return v
        except (OSError, TestFailure, ValueError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TestFailure("timed out after %.1fs waiting for %s%s" %
                      (timeout, what, " (last error: %r)" % (last_exc,) if last_exc else ""))


# ---------------------------------------------------------------- ports

_handed_ports = set()
_handed_ports_lock = threading.Lock()


def free_port(host="127.0.0.1"):
    """A free port never handed out before in this process: the kernel may
    give back a just-released port, and two -L options on one port fail."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            p = s.getsockname()[1]
        with _handed_ports_lock:
            if p not in _handed_ports:
                _handed_ports.add(p)
                return p
    raise TestFailure("no fresh free port after 200 tries")


def free_port_both():
    """A port free on both 127.0.0.1 and ::1 (for dual-stack targets)."""
    for _ in range(50):
        p = free_port("127.0.0.1")
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", p))
            return p
        except OSError:
            continue
    raise TestFailure("no port free on both 127.0.0.1 and ::1")


def port_accepts(host, port, timeout=0.5):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
            return True
        except OSError:
            return False


# ---------------------------------------------------------------- processes

_all_procs = []
_all_procs_lock = threading.Lock()


def read_rss_kib(pid):
    """VmRSS of pid in KiB, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Proc:
    """One program we started; output (stdout+stderr) goes to a log file."""

    def __init__(self, name, argv, logdir, env=None, xdg=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = os.path.join(logdir, "%s.%d.log" % (name, int(time.time() * 1000) % 10**8))
        self._logf = open(self.log_path, "wb")
        self._logf.write(("# " + " ".join(self.argv) + "\n").encode())
        self._logf.flush()
        # Each program gets its own runtime directory, so its default control
        # socket ($XDG_RUNTIME_DIR/rvpn/*.sock) never meets another one's.
        env = dict(env if env is not None else os.environ)
        env.pop("RUNTIME_DIRECTORY", None)
        self.xdg = xdg or tempfile.mkdtemp(prefix="xdg-", dir=logdir if len(logdir) < 60 else None)
        env["XDG_RUNTIME_DIR"] = self.xdg
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._logf,
                                      stderr=subprocess.STDOUT, env=env)
        self.pid = self.popen.pid
        self.started = time.monotonic()
        self.returncode = None
        self.stopped = False  # we asked it to end: liveness checks skip it
        with _all_procs_lock:
            _all_procs.append(self)

    def alive(self):
        return self.popen.poll() is None

    def tree_pids(self):
        """This process and its children (rvpn-server's workers), by PID."""
        pids = [self.pid]
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                pids += [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            pass
        return pids

    def fd_count(self):
        """Open descriptors of the process and its children, or None."""
        n = None
        for p in self.tree_pids():
            try:
                n = (n or 0) + len(os.listdir("/proc/%d/fd" % p))
            except OSError:
                pass
        return n

    def rss_kib(self):
        """VmRSS of the process and its children (a server's workers)."""
        if not self.alive():
            return None
        vals = [read_rss_kib(p) for p in self.tree_pids()]
        vals = [v for v in vals if v is not None]
        return sum(vals) if vals else None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        return self.log_text().encode()[offset:].decode("utf-8", "replace")

    def tail(self, n=40):
        lines = self.log_text().splitlines()
        return "\n".join("    | " + l for l in lines[-n:])

    def sanitizer_report(self):
        t = self.log_text()
        m = SANITIZER_RE.search(t)
        if not m:
            return None
        start = max(0, t.rfind("\n", 0, max(0, m.start() - 200)))
        return t[start:start + 3000]

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def send_signal_tree(self, sig):
        """sig to the process and its children (SIGSTOP/SIGCONT of a whole
        server: its workers serve on their own)."""
        if self.alive():
            for p in self.tree_pids():
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass

    def wait(self, timeout):
        try:
            self.returncode = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=30.0, sig=signal.SIGTERM):
        """Send sig, wait up to timeout, SIGKILL if still alive.  Returns
        (returncode, seconds, killed)."""
        self.stopped = True
        if not self.alive():
            self.returncode = self.popen.returncode
            self._close()
            return self.returncode, 0.0, False
        t0 = time.monotonic()
        os.kill(self.pid, sig)
        rc = self.wait(timeout)
        killed = False
        if rc is None:
            killed = True
            os.kill(self.pid, signal.SIGKILL)
            rc = self.wait(10)
        self._close()
        return rc, time.monotonic() - t0, killed

    def kill(self):
        self.stopped = True
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.wait(10)
        self._close()

    def _close(self):
        try:
            self._logf.close()
        except OSError:
            pass
        with _all_procs_lock:
            if self in _all_procs:
                _all_procs.remove(self)


def kill_all_started():
    """Emergency cleanup: SIGKILL every process this script started (by PID)."""
    with _all_procs_lock:
        procs = list(_all_procs)
    for p in procs:
        try:
            p.kill()
        except Exception:
            pass


class RssSampler:
    """Samples VmRSS of some processes every `interval` seconds in a thread."""

    def __init__(self, procs, interval=0.02):
        self.procs = procs
        self.interval = interval
        self.max = {p.name: 0 for p in procs}
        self.first = {p.name: None for p in procs}
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for p in self.procs:
                v = read_rss_kib(p.pid)
                if v is not None:
                    if self.first[p.name] is None:
                        self.first[p.name] = v
                    self.max[p.name] = max(self.max[p.name], v)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join(5)


# ---------------------------------------------------------------- DNS

def dns_packet(name, qtype=1, tid=None):
    """(id, query bytes) for one question; a random id unless given."""
    tid = random.randrange(65536) if tid is None else tid
    q = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return tid, q + b"\0" + struct.pack(">HH", qtype, 1)


def dns_parse(d):
    """(id, rcode, [IPv4/IPv6 addresses]) of a DNS answer."""
    tid, flags, qd, an = struct.unpack(">HHHH", d[:8])
    off = 12
    for _ in range(qd):  # skip the question
        while d[off] != 0:
            off += 1 + d[off]
        off += 5
    addrs = []
    for _ in range(an):
        if d[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while d[off] != 0:
                off += 1 + d[off]
            off += 1
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", d[off:off + 10])
        off += 10
        rdata = d[off:off + rdlen]
        off += rdlen
        if rtype == 1:
            addrs.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return tid, flags & 0xF, addrs


def dns_query(port, name, qtype=1, timeout=2.0):
    """One UDP query to 127.0.0.1:port.  Returns (rcode, [addresses])."""
    tid, q = dns_packet(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, ("127.0.0.1", port))
        d = s.recv(4096)
    rid, rcode, addrs = dns_parse(d)
    check(rid == tid, "DNS: wrong id")
    return rcode, addrs


def find_dnsmasq():
    for p in (shutil.which("dnsmasq"), "/usr/sbin/dnsmasq", "/sbin/dnsmasq"):
        if p and os.access(p, os.X_OK):
            return p
    return None


class Dns:
    """dnsmasq on 127.0.0.1:port answering only the test names."""

    def __init__(self, tmp):
        exe = find_dnsmasq()
        if not exe:
            raise TestFailure("dnsmasq not found (Debian package dnsmasq-base; "
                              "packaging/scripts/install-deps.sh installs it)")
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        last = None
        for _ in range(5):
            self.port = free_port()
            argv = [exe, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                    "--no-poll", "--port=%d" % self.port, "--listen-address=127.0.0.1",
                    "--bind-interfaces", "--user=" + user, "--group=" + group,
                    "--pid-file=" + os.path.join(tmp, "dnsmasq.pid"),
                    "--cache-size=0", "--local-ttl=5",
                    # Every name not listed below: NXDOMAIN, never forwarded
                    # (there is no upstream server at all: --no-resolv).
                    "--address=/#/",
                    "--host-record=%s,127.0.0.1" % NAME_V4,
                    "--host-record=%s,::1" % NAME_V6,
                    "--host-record=%s,127.0.0.1,::1" % NAME_DUAL,
                    "--host-record=%s,127.0.0.2" % NAME_DENIED]
            self.proc = Proc("dnsmasq", argv, tmp)
            try:
                wait_until(lambda: self.proc.alive() and dns_query(self.port, NAME_V4, timeout=0.2)[1],
                           5, "dnsmasq to answer")
                break
            except TestFailure as e:
                last = e
                self.proc.kill()
        else:
            raise TestFailure("dnsmasq did not start: %s\n%s" % (last, self.proc.tail()))
        # Self-check: the names the tests rely on.
        check(dns_query(self.port, NAME_V4, 1) == (0, ["127.0.0.1"]), "dnsmasq: A " + NAME_V4)
        check(dns_query(self.port, NAME_V4, 28) == (0, []), "dnsmasq: AAAA %s not NODATA" % NAME_V4)
        check(dns_query(self.port, NAME_V6, 28) == (0, ["::1"]), "dnsmasq: AAAA " + NAME_V6)
        check(dns_query(self.port, NAME_UNKNOWN, 1)[0] == 3, "dnsmasq: unknown name not NXDOMAIN")

    def stop(self):
        self.proc.stop(10)


# ---------------------------------------------------------------- keys

def run_tool(argv, stdin=None, stdout=subprocess.PIPE, timeout=20):
    r = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise TestFailure("%s failed (exit %d): %s" % (" ".join(argv), r.returncode,
                                                        r.stderr.decode(errors="replace")))
    return r


def make_keypair(tool, path):
    """genkey into path (mode 600), pubkey from it.  Returns the public key text."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        run_tool([tool, "genkey"], stdout=fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    with open(path, "rb") as f:
        pub = run_tool([tool, "pubkey"], stdin=f).stdout.decode().strip()
    raw = base64.b64decode(pub, validate=True)
    check(len(pub) == 44 and len(raw) == 32, "pubkey printed %r, not a 44-char key" % pub)
    return pub


def make_self_signed(tmp, name, cn="localhost"):
    """A self-signed P-256 certificate for 127.0.0.1/::1/localhost made with
    the openssl CLI (Debian package openssl).  Returns (cert, key) paths."""
    exe = shutil.which("openssl")
    if not exe:
        raise TestSkip("openssl CLI not installed (Debian package openssl): no wss test")
    cert = os.path.join(tmp, name + ".crt")
    key = os.path.join(tmp, name + ".key.pem")
    run_tool([exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
              # DNS:127.0.0.1 too: mbedTLS 2.28 (the client's TLS) matches a
              # host only against dNSName entries, never iPAddress ones.
              "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:127.0.0.1"])
    os.chmod(key, 0o600)
    return cert, key


# ---------------------------------------------------------------- SOCKS5

SOCKS_REPLY_NAMES = {0: "succeeded", 1: "general failure", 2: "not allowed by ruleset",
                     3: "network unreachable", 4: "host unreachable", 5: "connection refused",
                     6: "TTL expired", 7: "command not supported", 8: "address type not supported"}


def socks_request(host, port, cmd=1):
    """The CONNECT (or other cmd) request bytes for host:port."""
    try:
        ip = ipaddress.ip_address(host)
        if ip.version == 4:
            addr = b"\x01" + ip.packed
        else:
            addr = b"\x04" + ip.packed
    except ValueError:
        h = host.encode()
        addr = b"\x03" + bytes([len(h)]) + h
    return bytes([5, cmd, 0]) + addr + struct.pack(">H", port)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        d = sock.recv(n - len(buf))
        if not d:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def socks_read_reply(sock):
    """Returns (rep, bound_host, bound_port)."""
    h = recv_exact(sock, 4)
    check(h[0] == 5, "SOCKS reply version %d, not 5" % h[0])
    atyp = h[3]
    if atyp == 1:
        a = socket.inet_ntop(socket.AF_INET, recv_exact(sock, 4))
    elif atyp == 4:
        a = socket.inet_ntop(socket.AF_INET6, recv_exact(sock, 16))
    elif atyp == 3:
        a = recv_exact(sock, recv_exact(sock, 1)[0]).decode(errors="replace")
    else:
        raise TestFailure("SOCKS reply with ATYP %d" % atyp)
    p = struct.unpack(">H", recv_exact(sock, 2))[0]
    return h[1], a, p


class SocksResult:
    def __init__(self, sock, rep, bound, elapsed, closed=False):
        self.sock = sock
        self.rep = rep          # reply code, or None when closed without a reply
        self.bound = bound
        self.elapsed = elapsed
        self.closed = closed

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def client_status_json(w):
    """`rvpn-client status --json` of the world's client, parsed."""
    path = os.path.join(w.client.xdg, "rvpn", "client.sock")
    r = subprocess.run([w.client_bin, "status", "--json", "--control", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    check(r.returncode == 0, "rvpn-client status --json: exit %d: %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def socks_connect(proxy_port, host, port, timeout=20.0, mode="normal", cmd=1,
                  auth=None, proxy_host="127.0.0.1"):
    """Raw SOCKS5 client.  mode: 'normal' (greeting, wait, request),
    'onesegment' (greeting and request in one send), 'bytewise' (one byte per
    send, TCP_NODELAY).  auth: (user, password) for RFC 1929.  Returns a
    SocksResult; rep None means the proxy closed without answering."""
    t0 = time.monotonic()
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    greet = b"\x05\x01\x02" if auth else b"\x05\x01\x00"
    req = socks_request(host, port, cmd)
    try:
        if mode == "onesegment" and not auth:
            s.sendall(greet + req)
            m = recv_exact(s, 2)
            check(m == b"\x05\x00", "method selection %r" % m)
        else:
            send = s.sendall
            if mode == "bytewise":
                def send(b):
                    for i in range(len(b)):
                        s.sendall(b[i:i + 1])
            send(greet)
            m = recv_exact(s, 2)
            if auth:
                check(m == b"\x05\x02", "method selection %r, wanted user/password" % m)
                u, pw = auth[0].encode(), auth[1].encode()
                send(bytes([1, len(u)]) + u + bytes([len(pw)]) + pw)
                a = recv_exact(s, 2)
                if a[1] != 0:
                    return SocksResult(s, None, None, time.monotonic() - t0, closed=True)
            else:
                check(m == b"\x05\x00", "method selection %r" % m)
            send(req)
        rep, bh, bp = socks_read_reply(s)
        return SocksResult(s, rep, (bh, bp), time.monotonic() - t0)
    except (EOFError, ConnectionResetError):
        return SocksResult(s, None, None, time.monotonic() - t0, closed=True)


def socks_open(proxy_port, host, port, timeout=20.0, auth=None):
    """CONNECT that must succeed; returns the socket."""
    r = socks_connect(proxy_port, host, port, timeout=timeout, auth=auth)
    if r.rep != 0:
        r.close()
        raise TestFailure("SOCKS CONNECT %s:%d: %s" % (
            host, port, "closed without reply" if r.rep is None else
            "reply %d (%s)" % (r.rep, SOCKS_REPLY_NAMES.get(r.rep, "?"))))
    return r.sock


def wait_closed(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout; reads and
    discards whatever comes first."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        except OSError:
            return True
        if not d:
            return True


def http_get_raw(sock, host, path="/", read_timeout=20.0):
    """HTTP/1.0 GET on an open socket; returns (status, headers, body)."""
    sock.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    sock.settimeout(read_timeout)
    data = bytearray()
    while True:
        d = sock.recv(65536)
        if not d:
            break
        data += d
        check(len(data) < 64 * MiB, "HTTP response too large")
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    return status, lines[1:], body


# ---------------------------------------------------------------- WebSocket

WS_SUBPROTOCOL = "rvpn.v1"  # common/wire/rv_wire.h RV_WS_SUBPROTOCOL


def ws_handshake(port, path, host="127.0.0.1", timeout=10.0, key=None, version="13",
                 protocol=WS_SUBPROTOCOL):
    """Opens a WebSocket to the server; returns (sock, status_line).  The
    caller checks the status (101 expected for the right path and
    subprotocol; protocol=None sends no Sec-WebSocket-Protocol)."""
    s = socket.create_connection((host, port), timeout=timeout)
    key = key or base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n%s\r\n" % (
               path, host, port, key, version,
               "Sec-WebSocket-Protocol: %s\r\n" % protocol if protocol else ""))
    s.sendall(req.encode())
    head = bytearray()
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            return s, None
        head += d
        if len(head) > 16384:
            break
    return s, head.decode("latin-1").split("\r\n")[0]


def ws_frame(payload, opcode=2, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        h = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        h = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack(">Q", n)
    if not mask:
        return h + payload
    m = os.urandom(4)
    return h + m + bytes(c ^ m[i & 3] for i, c in enumerate(payload))


def ws_parse_frame(buf):
    """First WebSocket frame in buf -> (opcode, payload, rest) or None when
    incomplete.  Handles masking."""
    if len(buf) < 2:
        return None
    op = buf[0] & 0x0F
    masked = buf[1] & 0x80
    n = buf[1] & 0x7F
    off = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack(">H", buf[2:4])[0]
        off = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack(">Q", buf[2:10])[0]
        off = 10
    key = b""
    if masked:
        key = buf[off:off + 4]
        off += 4
    if len(buf) < off + n:
        return None
    p = bytes(buf[off:off + n])
    if masked:
        p = bytes(c ^ key[i & 3] for i, c in enumerate(p))
    return op, p, buf[off + n:]


class Relay:
    """A TCP relay 127.0.0.1:port -> 127.0.0.1:target that records the first
    bytes each connection sends upstream (to capture handshake messages)."""

    RECORD = 65536

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.records = []  # one bytearray per connection, client -> server
        self.conns = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            rec = bytearray()
            self.records.append(rec)
            self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u, rec), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, None), daemon=True).start()

    def _pump(self, a, b, rec):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                if rec is not None and len(rec) < self.RECORD:
                    rec += d[:self.RECORD - len(rec)]
                b.sendall(d)
        except OSError:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def first_ws_message(self, i=0):
        """The payload of the first WebSocket data frame of connection i."""
        rec = bytes(self.records[i])
        head, sep, rest = rec.partition(b"\r\n\r\n")
        if not sep:
            return None
        f = ws_parse_frame(rest)
        return f[1] if f else None

    def close(self):
        self._stop = True
        self.lsock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def socket_inodes(pid):
    """Inodes (as strings) of the sockets pid holds, from /proc; empty if
    it is gone."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except OSError:
        pass
    return inodes


def tcp_conns_to(pid, port):
    """Socket inodes of pid's established TCP connections to local port
    `port` (IPv4 or IPv6), from /proc."""
    inodes = socket_inodes(pid)
    if not inodes:
        return set()
    found = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    rem_port = int(parts[2].split(":")[1], 16)
                    if rem_port == port and parts[3] == "01" and parts[9] in inodes:
                        found.add(parts[9])
        except OSError:
            pass
    return found


# ---------------------------------------------------------------- data

class Pattern:
    """Position-dependent pseudo-random data without holding it all: a 4 MiB
    random block, chunk i read at a rotating offset."""
    BLOCK = 4 * MiB
    CHUNK = 256 * 1024

    def __init__(self, seed=None):
        r = random.Random(seed)
        blk = r.randbytes(self.BLOCK) if hasattr(r, "randbytes") else os.urandom(self.BLOCK)
        self.buf = memoryview(blk + blk)

    def chunks(self, total):
        i = 0
        sent = 0
        while sent < total:
            n = min(self.CHUNK, total - sent)
            off = (i * 1000003) % self.BLOCK
            yield self.buf[off:off + n]
            sent += n
            i += 1


# ---------------------------------------------------------------- targets

class HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    files = {}

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class HttpServer6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Targets:
    """Local target servers, all on 127.0.0.1 and ::1 (same port each).
    HTTP: http.server; the rest: asyncio in a background thread.

    Protocols:
      echo      echoes everything, half-closes after EOF
      duplex    SHA-256 both ways; header up_len u64 | down_len u64, then the
                client sends up_len bytes + sha256(them); the target sends
                down_len bytes + sha256(them) + 1 status byte (1 = upload
                checksum matched) and closes
      sink      reads (optionally only after release_sinks()), at EOF
                answers total u64 | sha256 of everything
      halfclose reads until EOF, then answers sha256 | 4 MiB of data | sha256
                of that data, then closes
      early     sends 1 MiB + sha256 and half-closes at once, then reads until
                EOF and answers nothing more; reports what it got via
                early_results
    """

    def __init__(self):
        self.http_port = free_port_both()
        self.files = {"/": b"rvpn integration test index\n",
                      "/small": os.urandom(1000),
                      "/1m": os.urandom(MiB)}
        HttpHandler.files = self.files
        self._https = []
        for fam_cls, host in ((http.server.ThreadingHTTPServer, "127.0.0.1"),
                              (HttpServer6, "::1")):
            srv = fam_cls((host, self.http_port), HttpHandler)
            srv.daemon_threads = True
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                                 daemon=True)
            t.start()
            self._https.append(srv)
        self.http_hits = 0
        self.sink_release = None
        self.sink_paused = False
        self.sink_results = []
        self.early_results = []
        self.ports = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._servers = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        check(self._ready.wait(10), "target servers did not start")

    # --- asyncio side
    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self):
        self.sink_release = asyncio.Event()
        self.sink_release.set()
        for name, handler in (("echo", self._echo), ("duplex", self._duplex),
                              ("sink", self._sink), ("halfclose", self._halfclose),
                              ("early", self._early)):
            for _ in range(20):
                port = free_port_both()
                try:
                    s4 = await asyncio.start_server(handler, "127.0.0.1", port, limit=MiB)
                    s6 = await asyncio.start_server(handler, "::1", port, limit=MiB)
                    break
                except OSError:
                    continue
            self._servers += [s4, s6]
            self.ports[name] = port

    async def _echo(self, r, w):
        try:
            while True:
                d = await r.read(65536)
                if not d:
                    break
                w.write(d)
                await w.drain()
            w.write_eof()
            await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _duplex(self, r, w):
        try:
            hdr = await r.readexactly(16)
            up_len, down_len = struct.unpack(">QQ", hdr)
            pat = Pattern()

            async def sender():
                h = hashlib.sha256()
                for c in pat.chunks(down_len):
                    h.update(c)
                    w.write(c)
                    await w.drain()
                return h.digest()

            async def receiver():
                h = hashlib.sha256()
                left = up_len
                while left:
                    d = await r.read(min(left, 262144))
                    if not d:
                        raise EOFError("duplex: upload ended early")
                    h.update(d)
                    left -= len(d)
                their = await r.readexactly(32)
                return h.digest() == their

            down_digest, ok = await asyncio.gather(sender(), receiver())
            w.write(down_digest + bytes([1 if ok else 0]))
            await w.drain()
        except (ConnectionError, OSError, EOFError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    async def _sink(self, r, w):
        # Paused sinks read nothing at all until released: the kernel buffer
        # fills and the tunnel must stop sending (backpressure).
        transport = w.transport
        if self.sink_paused:
            transport.pause_reading()
            await self.sink_release.wait()
            transport.resume_reading()
        h = hashlib.sha256()
        total = 0
        try:
            while True:
                d = await r.read(MiB)
                if not d:
                    break
                h.update(d)
                total += len(d)
            self.sink_results.append((total, h.digest()))
            w.write(struct.pack(">Q", total) + h.digest())
            await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _halfclose(self, r, w):
        try:
            h = hashlib.sha256()
            while True:
                d = await r.read(MiB)
                if not d:
                    break
                h.update(d)
            body = Pattern().buf[:4 * MiB].tobytes()
            w.write(h.digest() + body + hashlib.sha256(body).digest())
            await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _early(self, r, w):
        try:
            body = Pattern().buf[:MiB].tobytes()
            w.write(body + hashlib.sha256(body).digest())
            await w.drain()
            w.write_eof()
            h = hashlib.sha256()
            total = 0
            while True:
                d = await r.read(MiB)
                if not d:
                    break
                h.update(d)
                total += len(d)
            self.early_results.append((total, h.digest()))
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    # --- test side
    def pause_sinks(self):
        def f():
            self.sink_paused = True
            self.sink_release.clear()
        self._loop.call_soon_threadsafe(f)

    def release_sinks(self):
        def f():
            self.sink_paused = False
            self.sink_release.set()
        self._loop.call_soon_threadsafe(f)

    def stop(self):
        for s in self._https:
            s.shutdown()
            s.server_close()

        def f():
            for s in self._servers:
                s.close()
            self._loop.stop()
        self._loop.call_soon_threadsafe(f)
        self._thread.join(5)


# ---------------------------------------------------------------- world

class World:
    """Keys, dnsmasq, targets, one rvpn-server and one rvpn-client."""

    def __init__(self, args, client=True, server_extra=(), client_extra=(), forwards=True,
                 tls=False, socks_auth=None):
        self.args = args
        self.tls = tls
        self.socks_auth = socks_auth  # (user, password): client gets --socks-auth
        self.client_bin = args.client
        self.server_bin = args.server
        self.sanitize = args.sanitize
        self.verbose = os.environ.get("RVPN_IT_VERBOSE") == "1"
        self.tmp = tempfile.mkdtemp(prefix="rvpn-it-")
        self.server = None
        self.client = None
        self.extra_clients = []
        self.dns = None
        self.targets = None
        self.server_extra = list(server_extra)
        self.client_extra = list(client_extra)
        self.path = "/t%08x" % random.getrandbits(32)
        self.server_port = free_port()
        self.socks_port = None
        self.fwd = {}
        self.shutdown_errors = []
        try:
            self.server_key = os.path.join(self.tmp, "server.key")
            self.client_key = os.path.join(self.tmp, "client.key")
            self.server_pub = make_keypair(self.server_bin, self.server_key)
            self.client_pub = make_keypair(self.client_bin, self.client_key)
            self.authorized = os.path.join(self.tmp, "authorized_keys")
            with open(self.authorized, "w") as f:
                f.write("# rvpn integration test\n%s test-client\n" % self.client_pub)
            os.chmod(self.authorized, 0o644)  # group-writable is refused: not umask's call
            self.dns = Dns(self.tmp)
            self.targets = Targets()
            if socks_auth:
                path = os.path.join(self.tmp, "socks-auth")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.write(fd, ("%s:%s\n" % socks_auth).encode())
                os.close(fd)
                self.client_extra += ["--socks-auth", path]
            if tls:
                self.cert, self.cert_key = make_self_signed(self.tmp, "server")
                self.server_extra += ["--cert", self.cert, "--cert-key", self.cert_key]
                self.client_extra += ["--ca", self.cert]
            self.start_server()
            if client:
                self.start_client(forwards=forwards)
        except BaseException:
            log("world set-up failed; logs:\n" + self.log_tails())
            self.teardown(check_exit=False)
            raise

    url_port = None  # set to point clients at a relay instead of the server

    @property
    def url(self):
        return "%s://127.0.0.1:%d%s" % ("wss" if self.tls else "ws",
                                         self.url_port or self.server_port, self.path)

    def env(self):
        e = dict(os.environ)
        # rvpn-client reads ~/.config/rvpn/client.conf by default: never the developer's.
        e["HOME"] = self.tmp
        if self.sanitize:
            # Keep ASan's quarantine small so RSS numbers mean something.
            opts = e.get("ASAN_OPTIONS", "")
            if "quarantine_size_mb" not in opts:
                e["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=16"
        return e

    def server_argv(self, extra=()):
        a = [self.server_bin, "-l", "127.0.0.1:%d" % self.server_port, "-k", self.server_key,
             "-a", self.authorized, "--path", self.path,
             "--allow", "127.0.0.1", "--allow", "::1",
             "--dns", "127.0.0.1:%d" % self.dns.port]
        if self.verbose:
            a.append("-v")
        return a + self.server_extra + list(extra)

    def start_server(self, extra=(), wait=True):
        self.server = Proc("rvpn-server", self.server_argv(extra), self.tmp, env=self.env())
        if wait:
            self.wait_server()
        return self.server

    def wait_server(self, timeout=20):
        wait_until(lambda: self._check_alive(self.server) and
                   port_accepts("127.0.0.1", self.server_port), timeout,
                   "rvpn-server to listen on 127.0.0.1:%d" % self.server_port)

    def _check_alive(self, p):
        if not p.alive():
            raise TestFailure("%s exited with %s:\n%s" % (p.name, p.popen.returncode, p.tail()))
        return True

    def client_argv(self, key=None, socks_port=None, forwards=(), extra=()):
        a = [self.client_bin, "-k", key or self.client_key, "-s", self.server_pub]
        if socks_port:
            a += ["-D", "127.0.0.1:%d" % socks_port]
        for f in forwards:
            a += ["-L", f]
        if self.verbose:
            a.append("-v")
        return a + list(extra) + [self.url]

    def start_client(self, forwards=True, wait=True):
        self.socks_port = free_port()
        fw = []
        if forwards:
            # -L to the HTTP target by IPv4 literal, by IPv6 literal, by name,
            # and one to the echo target.
            for name, target in (("http4", "127.0.0.1:%d" % self.targets.http_port),
                                 ("http6", "[::1]:%d" % self.targets.http_port),
                                 ("httpname", "%s:%d" % (NAME_V4, self.targets.http_port)),
                                 ("echo", "127.0.0.1:%d" % self.targets.ports["echo"])):
                p = free_port()
                self.fwd[name] = p
                fw.append("127.0.0.1:%d:%s" % (p, target))
        self.client = Proc("rvpn-client", self.client_argv(socks_port=self.socks_port,
                                                           forwards=fw, extra=self.client_extra),
                           self.tmp, env=self.env())
        if wait:
            self.wait_client()
        return self.client

    def wait_client(self, timeout=30, proxy_port=None, proc=None):
        """Ready = the SOCKS port accepts and a CONNECT through the tunnel to
        the HTTP target succeeds."""
        proc = proc or self.client
        proxy_port = proxy_port or self.socks_port

        def ready():
            self._check_alive(proc)
            self._check_alive(self.server)
            if not port_accepts("127.0.0.1", proxy_port):
                return False
            r = socks_connect(proxy_port, "127.0.0.1", self.targets.http_port, timeout=5,
                              auth=self.socks_auth if proc is self.client else None)
            r.close()
            return r.rep == 0
        t0 = time.monotonic()
        wait_until(ready, timeout, "rvpn-client's SOCKS port %d to carry a CONNECT" % proxy_port,
                   interval=0.1)
        return time.monotonic() - t0

    def start_extra_client(self, key, extra=(), wait=False):
        port = free_port()
        p = Proc("rvpn-client-extra", self.client_argv(key=key, socks_port=port, extra=extra),
                 self.tmp, env=self.env())
        self.extra_clients.append(p)
        if wait:
            wait_until(lambda: self._check_alive(p) and port_accepts("127.0.0.1", port), 20,
                       "extra client's SOCKS port")
        return p, port

    def assert_alive(self):
        for p in [self.server, self.client] + self.extra_clients:
            if p is not None and not p.stopped:
                self._check_alive(p)

    def assert_works(self, timeout=20):
        """A fresh stream through the tunnel gets the HTTP index."""
        s = socks_open(self.socks_port, "127.0.0.1", self.targets.http_port, timeout=timeout,
                       auth=self.socks_auth)
        try:
            st, _h, body = http_get_raw(s, "127.0.0.1", "/")
            check(st == 200 and body == self.targets.files["/"],
                  "HTTP through the tunnel: status %d, %d bytes" % (st, len(body)))
        finally:
            s.close()

    def stop_proc(self, p, what, check_exit=True, timeout=30):
        """SIGTERM, expect exit 0 within timeout and a clean log."""
        rc, secs, killed = p.stop(timeout)
        problems = []
        if killed:
            problems.append("%s did not exit within %ds of SIGTERM (killed)" % (what, timeout))
        elif check_exit and rc != 0:
            problems.append("%s exited %s after SIGTERM, expected 0" % (what, rc))
        rep = p.sanitizer_report()
        if rep:
            problems.append("%s sanitizer report:\n%s" % (what, rep))
        if problems and check_exit:
            self.shutdown_errors += problems
        return rc, secs

    def teardown(self, check_exit=True):
        for p in [self.client] + self.extra_clients:
            if p is not None:
                self.stop_proc(p, p.name, check_exit)
        self.extra_clients = []
        self.client = None
        if self.server is not None:
            self.stop_proc(self.server, "rvpn-server", check_exit)
        if self.dns:
            self.dns.stop()
        if self.targets:
            self.targets.stop()
        # Kept on request, or when a program's exit was wrong (the sanitizer
        # report may be longer than what the failure message shows).
        if os.environ.get("RVPN_IT_KEEP") == "1" or self.shutdown_errors:
            log("logs kept in %s (TMPDIR decides where these go)" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tails(self):
        out = []
        for p in [self.server, self.client] + self.extra_clients:
            if p is not None:
                out.append("--- %s (pid %d) log tail:\n%s" % (p.name, p.pid, p.tail()))
        return "\n".join(out)


# ---------------------------------------------------------------- runner

def parse_args(argv=None):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True, help="path to rvpn-client")
    ap.add_argument("--server", required=True, help="path to rvpn-server")
    ap.add_argument("--sanitize", action="store_true", help="programs built with ASan/UBSan")
    ap.add_argument("-k", dest="only", action="append", default=[],
                    help="run only tests whose name contains this")
    args, rest = ap.parse_known_args(argv)
    # --tool-NAME=PATH: C helpers built for a script (tests/hostile/tool_*.c).
    args.tools = {}
    for a in rest:
        m = re.match(r"^--tool-([a-z0-9_]+)=(.+)$", a)
        if not m:
            ap.error("unrecognized argument: %s" % a)
        args.tools[m.group(1)] = m.group(2)
    return args


class Runner:
    """Runs test functions f(world) with a hard per-test timeout; the world is
    made by make_world(args) once per script (or per test when fresh=True)."""

    def __init__(self, title):
        self.title = title
        self.tests = []

    def test(self, timeout=120, fresh=False, world=None):
        """fresh: the test gets its own world (made by `world(args)` when
        given), torn down and checked (exit 0, clean logs) right after."""
        def deco(fn):
            self.tests.append((fn.__name__, fn, timeout, fresh or world is not None, world))
            return fn
        return deco

    def main(self, make_world=None, argv=None):
        args = parse_args(argv)
        for b in (args.client, args.server):
            if not os.access(b, os.X_OK):
                log("%s: %s is not an executable; skipping" % (self.title, b))
                print("0 passed, 0 failed")
                sys.exit(77)
        make_world = make_world or (lambda a: World(a))
        passed = failed = skipped = 0
        failures = []

        def on_alarm(signum, frame):
            raise TestTimeout("hard timeout")
        signal.signal(signal.SIGALRM, on_alarm)

        def on_term(signum, frame):
            kill_all_started()
            sys.exit(1)
        signal.signal(signal.SIGTERM, on_term)

        selected = [t for t in self.tests if not args.only or any(o in t[0] for o in args.only)]
        shared = None
        try:
            for name, fn, timeout, fresh, factory in selected:
                log("=== %s: %s" % (self.title, name))
                t0 = time.monotonic()
                world = None
                signal.alarm(timeout + 60)  # includes set-up and teardown
                try:
                    try:
                        if fresh:
                            world = (factory or make_world)(args)
                        else:
                            if shared is None:
                                shared = make_world(args)
                            world = shared
                        signal.alarm(timeout)
                        fn(world)
                        world.assert_alive()
                    finally:
                        signal.alarm(timeout + 60)
                        if fresh and world is not None:
                            world.teardown()
                            if world.shutdown_errors:
                                raise TestFailure("; ".join(world.shutdown_errors))
                    passed += 1
                    log("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
                except TestSkip as e:
                    skipped += 1
                    log("SKIP %s: %s" % (name, e))
                except BaseException as e:
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    failed += 1
                    failures.append(name)
                    log("FAIL %s (%.1fs): %s" % (name, time.monotonic() - t0,
                                                 "hard timeout of %ds" % timeout
                                                 if isinstance(e, TestTimeout) else e))
                    if not isinstance(e, TestFailure):
                        traceback.print_exc(file=sys.stdout)
                    if world is not None:
                        log(world.log_tails())
                    if not fresh and shared is not None:
                        # A broken shared world poisons later tests: rebuild it.
                        try:
                            shared.teardown(check_exit=False)
                        except BaseException:
                            pass
                        shared = None
                finally:
                    signal.alarm(0)
            if shared is not None:
                signal.alarm(120)
                shared.teardown()
                signal.alarm(0)
                if shared.shutdown_errors:
                    failed += 1
                    failures.append("shutdown")
                    log("FAIL shutdown: " + "; ".join(shared.shutdown_errors))
        finally:
            signal.alarm(0)
            kill_all_started()
        if skipped:
            log("(%d skipped)" % skipped)
        if failures:
            log("failed: " + ", ".join(failures))
        print("%d passed, %d failed" % (passed, failed), flush=True)
        sys.exit(1 if failed else 0)
