#!/usr/bin/env python3
"""Revocation, replay across restarts, strict file modes and shutdown, with
the real programs: a key removed from authorized_keys (plus a bad line) and
SIGHUP ends its live session within a bound (stream reset, new streams
refused); a captured Noise message 1 replayed after a server restart with
--state-dir is refused and logged as a replay; a group-writable
authorized_keys is refused at start and at reload; SIGTERM with a stream
open past the drain limit resets the stream (RESET(SHUTDOWN), seen in the
client's debug log, the app's socket reset) and closes the WebSocket with
code 1000 (seen through a recording relay)."""
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import (Proc, Runner, TestFailure, World, check, free_port, make_keypair,  # noqa: E402
                     metric, socks_connect, socks_open, wait_until, ws_frame, ws_handshake,
                     ws_parse_frame)

R = Runner("revoke")

REVOKE_BOUND_S = 10   # grace is 2 s (server_int.h); slack for ASan
ECHO_TIMEOUT_S = 10


class RecRelay:
    """TCP relay 127.0.0.1:port -> server that records both directions of
    every connection (client->server to capture message 1, server->client to
    see the WebSocket close frame)."""

    LIMIT = 4 * 1024 * 1024

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.up = []    # per connection: client -> server bytes
        self.down = []  # per connection: server -> client bytes
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
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
            up, down = bytearray(), bytearray()
            with self.lock:
                self.up.append(up)
                self.down.append(down)
                self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, down), daemon=True).start()

    def _pump(self, a, b, rec):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    b.shutdown(socket.SHUT_WR)
                    return
                with self.lock:
                    if len(rec) < self.LIMIT:
                        rec += d[:self.LIMIT - len(rec)]
                b.sendall(d)
        except OSError:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    @staticmethod
    def frames(rec):
        """WebSocket frames after the HTTP head: [(opcode, payload)]."""
        head, sep, rest = bytes(rec).partition(b"\r\n\r\n")
        out = []
        while sep:
            f = ws_parse_frame(rest)
            if f is None:
                break
            out.append((f[0], f[1]))
            rest = f[2]
        return out

    def first_message(self, i=0):
        with self.lock:
            if i >= len(self.up):
                return None
            fr = self.frames(self.up[i])
        return fr[0][1] if fr else None

    def close_codes(self):
        """Close codes the server sent, over all connections."""
        codes = []
        with self.lock:
            downs = [bytes(d) for d in self.down]
        for d in downs:
            for op, p in self.frames(d):
                if op == 8:
                    codes.append(struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None)
        return codes

    def close(self):
        self.lsock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def relay_world(args, server_extra=(), client_extra=()):
    w = World(args, client=False, server_extra=server_extra, client_extra=client_extra)
    try:
        w.relay = RecRelay(w.server_port)
        w.url_port = w.relay.port
        w.start_client(forwards=False)
    except BaseException:
        w.teardown(check_exit=False)
        raise
    return w


def echo_stream(w):
    """An open stream through the tunnel to the echo target, checked."""
    s = socks_open(w.socks_port, "127.0.0.1", w.targets.ports["echo"], timeout=20)
    s.settimeout(ECHO_TIMEOUT_S)
    s.sendall(b"ping-1")
    got = b""
    while len(got) < 6:
        d = s.recv(64)
        check(d, "echo stream closed early")
        got += d
    check(got == b"ping-1", "echo answered %r" % got)
    return s


def wait_reset_or_eof(s, timeout):
    """'reset', 'eof' or None (still open after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return "reset"
        if not d:
            return "eof"
    return None


def server_log_has(w, text, offset=0):
    return text in w.server.log_since(offset)


# ------------------------------------------------------------------ tests

@R.test(timeout=120, fresh=True)
def revoked_key_session_ends(w):
    """Remove the client's key (the file also gets a bad line) and SIGHUP:
    a stream opened after the GOAWAY fails, the live stream is reset within
    the bound, the session ends with its summary."""
    s = echo_stream(w)
    off = w.server.log_size()
    with open(w.authorized, "w") as f:
        f.write("# client removed\nthis-is-not-a-key someone\n")
    t0 = time.monotonic()
    w.server.send_signal(signal.SIGHUP)
    wait_until(lambda: server_log_has(w, "GOAWAY(REVOKED)", off), 10, "the revocation")
    logtext = w.server.log_since(off)
    check(":2: not a base64 public key" in logtext and "line skipped" in logtext,
          "the bad line was not reported with file and line:\n%s" % logtext)
    check("1 removed" in logtext and
          "test-client" in logtext.split("1 removed", 1)[1].splitlines()[0],
          "the reload line does not name the removed key:\n%s" % logtext)
    # A new stream, asked for during the grace time, must fail (the client
    # may hold it while it tries a new tunnel, which is refused too).
    res = {}

    def new_stream():
        r = socks_connect(w.socks_port, "127.0.0.1", w.targets.ports["echo"], timeout=40)
        res["rep"] = r.rep
        r.close()
    th = threading.Thread(target=new_stream, daemon=True)
    th.start()
    how = wait_reset_or_eof(s, REVOKE_BOUND_S)
    secs = time.monotonic() - t0
    s.close()
    check(how is not None, "the revoked key's stream still open %d s after SIGHUP" %
          REVOKE_BOUND_S)
    check(how == "reset", "the revoked key's stream ended with a clean EOF, not a reset")
    metric("revoke_stream_closed_s", secs, "s")
    wait_until(lambda: server_log_has(w, "end: key revoked", off), REVOKE_BOUND_S,
               "the revoked session's summary line")
    th.join(45)
    check(not th.is_alive() and "rep" in res, "the new stream got no answer")
    check(res["rep"] != 0, "a new stream from the revoked key worked")


def state_world(args):
    d = tempfile.mkdtemp(prefix="rvpn-it-state-")
    try:
        w = relay_world(args, server_extra=["--state-dir", d])
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    w.state_dir = d
    return w


@R.test(timeout=150, world=state_world)
def replay_after_restart_refused(w):
    try:
        replay_after_restart(w)
    finally:
        shutil.rmtree(w.state_dir, ignore_errors=True)


def replay_after_restart(w):
    msg1 = wait_until(lambda: w.relay.first_message(0), 10, "the client's first message")
    check(os.path.exists(os.path.join(w.state_dir, "replay-state")), "no replay-state file")
    # Before a restart: refused (in memory).
    check(not replay_answered(w, msg1), "replayed message 1 answered before a restart")
    # No real client while we replay: every "connected" line would be ours.
    w.stop_proc(w.client, "rvpn-client")
    w.client = None
    rc, _secs = w.stop_proc(w.server, "rvpn-server")
    check(rc == 0, "server exit %s" % rc)
    w.start_server()
    off = w.server.log_size()
    check(not replay_answered(w, msg1), "a replayed message 1 was answered after a restart")
    wait_until(lambda: server_log_has(w, "replayed handshake refused", off), 10,
               "the replay to be logged as a replay")
    check(not server_log_has(w, "connected", off), "the replay was logged as a connection:\n%s"
          % w.server.log_since(off))
    # A real client gets in (after the reserve window at most).
    t0 = time.monotonic()
    w.start_client(forwards=False)
    metric("client_ready_after_restart_with_state_s", time.monotonic() - t0, "s")


def replay_answered(w, msg1):
    s, status = ws_handshake(w.server_port, w.path)
    try:
        check(status and " 101 " in status + " ", "upgrade: %r" % status)
        s.sendall(ws_frame(msg1))
        s.settimeout(30)
        buf = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    return False
                buf += d
                f = ws_parse_frame(buf)
                if f and f[0] in (1, 2):
                    return True
                if f and f[0] == 8:
                    return False
        except socket.timeout:
            raise TestFailure("server neither answered nor closed a replayed message 1")
        except OSError:
            return False
    finally:
        s.close()


@R.test(timeout=120, fresh=True)
def group_writable_authorized_keys_refused(w):
    # At reload: a new key in a group-writable file is not admitted.
    key = os.path.join(w.tmp, "late.key")
    pub = make_keypair(w.client_bin, key)
    off = w.server.log_size()
    with open(w.authorized, "a") as f:
        f.write("%s late\n" % pub)
    os.chmod(w.authorized, 0o664)
    w.server.send_signal(signal.SIGHUP)
    wait_until(lambda: server_log_has(w, "reload failed", off), 10, "the reload to fail")
    check(server_log_has(w, "chmod go-w %s" % w.authorized, off),
          "the refusal does not name the fix:\n%s" % w.server.log_since(off))
    w.assert_works()
    # At start: the server refuses to run.
    p = Proc("rvpn-server-gw", w.server_argv() + ["-l", "127.0.0.1:%d" % free_port()], w.tmp,
             env=w.env())
    rc = p.wait(30)
    check(rc is not None and rc != 0, "server started with a group-writable authorized_keys")
    check("writable by group/others" in p.log_text() and "chmod go-w" in p.log_text(),
          "start-up refusal message: %s" % p.tail())
    p.stop()
    os.chmod(w.authorized, 0o644)


def drain_world(args):
    return relay_world(args, server_extra=["--drain-timeout", "1"], client_extra=["-v"])


@R.test(timeout=120, world=drain_world)
def sigterm_resets_streams_and_closes_1000(w):
    s = echo_stream(w)
    coff = w.client.log_size()
    t0 = time.monotonic()
    w.server.send_signal(signal.SIGTERM)
    how = wait_reset_or_eof(s, 15)
    s.close()
    check(how == "reset", "the app's stream ended with %s at the drain limit, expected a reset"
          % how)
    rc = w.server.wait(15)
    w.server.stopped = True  # it was asked to end
    metric("sigterm_to_exit_s", time.monotonic() - t0, "s")
    check(rc == 0, "server exit %s after SIGTERM" % rc)
    clog = w.client.log_since(coff)
    check("reset received" in clog, "the client got no RESET for its stream:\n%s" % clog[-3000:])
    wait_until(lambda: 1000 in w.relay.close_codes(), 5,
               "a WebSocket close 1000 from the server (got %r)" % w.relay.close_codes())
    check(server_log_has(w, "end: server shutdown"), "no session summary with end reason")
    w.relay.close()


if __name__ == "__main__":
    R.main()
