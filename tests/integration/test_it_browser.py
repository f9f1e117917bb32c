#!/usr/bin/env python3
"""A real browser through the mixed -D port: Debian's headless Chromium
loads a page with a stylesheet, an image and a script that writes into the
DOM, three times: with --proxy-server=socks5://, with --proxy-pac-url
(the port's own /proxy.pac) and with --proxy-server=http:// (plain-HTTP
proxying).  The page is addressed by a name only the test's dnsmasq (used
by rvpn-server) knows, so it can only load through the tunnel; the page
server counts what was fetched.  Each run also takes a screenshot (the
world's log dir, copied to $RVPN_ARTIFACTS_DIR when set).  Skips (77) only
when chromium is not installed.  Owner: mixed-port helper."""

import http.server
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rvpn_it import NAME_V4, Runner, TestFailure, check, free_port, log, metric  # noqa: E402

R = Runner("browser")
CHROMIUM = shutil.which("chromium")


def tiny_png(w, h):
    """A valid RGB PNG of w x h pixels (the test checks naturalWidth)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    rows = b"".join(b"\x00" + bytes([200, 30, 90]) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG_W, PNG_H = 37, 11
INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>rvpn browser test</title>
<link rel="stylesheet" href="/style.css"></head>
<body><h1 id="t">rvpn mixed port</h1>
<img id="img" src="/pic.png" onload="document.getElementById('imgstate').textContent =
 'image-loaded-' + this.naturalWidth + 'x' + this.naturalHeight">
<div id="imgstate">image-pending</div><div id="out">script-pending</div><div id="css"></div>
<script src="/app.js"></script>
</body></html>
"""
CSS = "#t { color: rgb(12, 34, 56); font-family: sans-serif; }\nbody { background: #eef; }\n"
JS = """document.getElementById('out').textContent = 'script-ran-' + %s;
document.getElementById('css').textContent =
  'css-' + getComputedStyle(document.getElementById('t')).color;
"""


class PageHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token = "0"
    hits = {}
    hosts = set()
    lock = threading.Lock()

    def do_GET(self):
        files = {"/": ("text/html", INDEX.encode()),
                 "/style.css": ("text/css", CSS.encode()),
                 "/app.js": ("application/javascript", (JS % repr(self.token)).encode()),
                 "/pic.png": ("image/png", tiny_png(PNG_W, PNG_H))}
        with self.lock:
            self.hits[self.path] = self.hits.get(self.path, 0) + 1
            self.hosts.add(self.headers.get("Host", ""))
        ctype, body = files.get(self.path, ("text/plain", b"no\n"))
        self.send_response(200 if self.path in files else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class Page:
    def __init__(self):
        self.port = free_port()
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), PageHandler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    def reset(self, token):
        with PageHandler.lock:
            PageHandler.token = token
            PageHandler.hits = {}
            PageHandler.hosts = set()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def chromium(w, proxy_flags, extra, timeout=40):
    prof = tempfile.mkdtemp(prefix="rvpn-chromium-", dir=w.tmp)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--user-data-dir=" + prof, "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-default-apps", "--mute-audio"] + proxy_flags + extra
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = prof
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise TestFailure("chromium %s did not finish within %d s" % (" ".join(proxy_flags),
                                                                     timeout))
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"), \
        time.monotonic() - t0


def load_page(w, page, mode, proxy_flags):
    url = "http://%s:%d/" % (NAME_V4, page.port)
    token = "%s-%d" % (mode, os.getpid())
    page.reset(token)
    rc, dom, err, secs = chromium(w, proxy_flags, ["--dump-dom", url])
    check(rc == 0, "%s: chromium exit %d: %s" % (mode, rc, err[-2000:]))
    hits = dict(PageHandler.hits)
    log("%s: --dump-dom in %.1f s; the page server saw %s" % (mode, secs, hits))
    metric("browser_%s_dump_dom_s" % mode, round(secs, 2), "s")
    check("script-ran-%s" % token in dom,
          "%s: the script's text is not in the DOM (page not loaded through the proxy?):\n%s\n"
          "chromium stderr:\n%s" % (mode, dom[:3000], err[-2000:]))
    check("css-rgb(12, 34, 56)" in dom, "%s: the stylesheet did not apply: %s" % (
        mode, re.findall(r'<div id="css">[^<]*', dom)))
    check("image-loaded-%dx%d" % (PNG_W, PNG_H) in dom, "%s: the image did not load: %s" % (
        mode, re.findall(r'<div id="imgstate">[^<]*', dom)))
    for path in ("/", "/style.css", "/pic.png", "/app.js"):
        check(hits.get(path, 0) >= 1, "%s: %s was never fetched (%s)" % (mode, path, hits))
    check(all(h.startswith(NAME_V4) for h in PageHandler.hosts),
          "%s: Host headers %s" % (mode, PageHandler.hosts))

    shot = os.path.join(w.tmp, "browser-%s.png" % mode)
    rc, _, err, secs = chromium(w, proxy_flags, ["--screenshot=" + shot,
                                                 "--window-size=640,360",
                                                 "--hide-scrollbars", url])
    check(rc == 0 and os.path.exists(shot) and os.path.getsize(shot) > 100,
          "%s: no screenshot (exit %d): %s" % (mode, rc, err[-2000:]))
    with open(shot, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "%s: screenshot is not a PNG" % mode)
    where = [shot]
    art = os.environ.get("RVPN_ARTIFACTS_DIR")
    if art:
        os.makedirs(art, exist_ok=True)
        dst = os.path.join(art, "browser-%s.png" % mode)
        shutil.copyfile(shot, dst)
        where.append(dst)
    log("%s: screenshot (%.1f s): %s" % (mode, secs, " and ".join(where)))


def no_local_dns():
    try:
        socket.getaddrinfo(NAME_V4, 80)
    except socket.gaierror:
        return
    raise TestFailure("%s resolves on this machine: the test could not tell a tunnelled "
                      "load from a direct one" % NAME_V4)


class BrowserWorld:
    page = None


@R.test(timeout=90)
def chromium_socks5(w):
    no_local_dns()
    load_page(w, BrowserWorld.page, "socks5", ["--proxy-server=socks5://127.0.0.1:%d" % w.socks_port])


@R.test(timeout=90)
def chromium_pac(w):
    load_page(w, BrowserWorld.page, "pac",
              ["--proxy-pac-url=http://127.0.0.1:%d/proxy.pac" % w.socks_port])


@R.test(timeout=90)
def chromium_http_proxy(w):
    load_page(w, BrowserWorld.page, "http", ["--proxy-server=http://127.0.0.1:%d" % w.socks_port])


if __name__ == "__main__":
    if CHROMIUM is None:
        print("#" * 72)
        print("# SKIP test_it_browser: chromium is not installed (apt-get install chromium;")
        print("# packaging/scripts/install-deps.sh installs it).  NOTHING WAS TESTED.")
        print("#" * 72, flush=True)
        sys.exit(77)
    BrowserWorld.page = Page()
    try:
        R.main()
    finally:
        BrowserWorld.page.stop()
