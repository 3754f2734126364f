"""The example nginx config in deploy/ is valid for the nginx that CI installs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


@pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (apt-get install nginx-light)"
)
@pytest.mark.skipif(
    not shutil.which("openssl"), reason="openssl is needed to make a test certificate"
)
def test_the_example_nginx_config_passes_nginx_t(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    text = CONF.read_text()
    assert "X-Accel-Redirect" in text and "internal;" in text and "X-Forwarded-Proto" in text
    # media from S3 pass through nginx with nothing that names the stored object, and the
    # participant's cookie is not sent to the store
    s3 = text.split("location /protected-s3/ {", 1)[1].split("}", 1)[0]
    for header in ("ETag", "Last-Modified", "Content-Disposition", "x-amz-request-id"):
        assert f"proxy_hide_header {header};" in s3, header
    assert 'proxy_set_header Cookie "";' in s3 and "internal;" in s3
    text = text.replace("/etc/ssl/certs/ssl-cert-snakeoil.pem", str(cert))
    text = text.replace("/etc/ssl/private/ssl-cert-snakeoil.key", str(key))
    text = text.replace("/tmp/musiscene-nginx", str(tmp_path / "nginx"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


@pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (apt-get install nginx-light)"
)
def test_media_from_s3_pass_through_nginx_naming_nothing(tmp_path):
    """The example's /protected-s3/ location, run: Django (a stub) answers X-Accel-Redirect with
    a signed path; nginx fetches it from the object store (a stub that answers as S3 does, with
    the object's ETag, Last-Modified, request id and a stored Content-Disposition) and passes
    the bytes on. The participant gets them, Range included, and nothing that names the object;
    the store gets the signed path and query untouched and not the participant's cookie."""
    import http.server
    import json
    import socket
    import threading
    import time
    import urllib.request

    seen: list[dict] = []

    class Store(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append({"path": self.path, "cookie": self.headers.get("Cookie")})
            body = b"0123456789"
            self.send_response(206 if self.headers.get("Range") else 200)
            self.send_header("Content-Type", "audio/mp4")
            self.send_header("ETag", '"9b2cf535f27731c974343645a3985328"')
            self.send_header("Last-Modified", "Mon, 30 Nov 2026 00:00:00 GMT")
            self.send_header("x-amz-request-id", "4442587FB7D0A2F9")
            self.send_header("Content-Disposition", 'attachment; filename="7f3c2a9e.m4a"')
            if self.headers.get("Range"):
                body = body[2:5]
                self.send_header("Content-Range", "bytes 2-4/10")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    signed = "/protected-s3/media/tracks/7f3c2a9e.m4a?X-Amz-Credential=a%2Fb&X-Amz-Signature=f0"

    class App(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("X-Accel-Redirect", signed)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (Store, App)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    store_port, app_port = (s.server_address[1] for s in servers)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = CONF.read_text()
    block = text[text.index("        location /protected-s3/ {") :]
    block = block[: block.index("\n        }\n") + 11]
    block = block.replace("https://objects.example.org", f"http://127.0.0.1:{store_port}")
    temp = " ".join(
        f"{kind}_temp_path {tmp_path}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid; error_log stderr warn; daemon off; events {{}}\n"
        f"http {{ access_log off; {temp}\n server {{ listen 127.0.0.1:{port};\n{block}\n"
        f" location / {{ proxy_pass http://127.0.0.1:{app_port}; }} }} }}\n"
    )
    nginx = subprocess.Popen([NGINX, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        answers = []
        for headers in ({"Cookie": "msp_1=participant", "Range": "bytes=2-4"}, {}):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/s/x/m/t/", headers=headers)
            for _ in range(50):  # nginx starting
                try:
                    with urllib.request.urlopen(request, timeout=5) as resp:
                        answers.append((resp.status, dict(resp.headers), resp.read()))
                    break
                except (ConnectionError, urllib.error.URLError):
                    time.sleep(0.1)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for server in servers:
            server.shutdown()
    assert [(a[0], a[2]) for a in answers] == [(206, b"234"), (200, b"0123456789")], answers
    assert answers[0][1]["Content-Range"] == "bytes 2-4/10"
    for _, headers, _ in answers:
        text = json.dumps(headers).lower()
        for word in ("etag", "last-modified", "x-amz", "7f3c2a9e", "filename", "9b2cf535"):
            assert word not in text, (word, headers)
    assert [s["path"] for s in seen] == [signed.removeprefix("/protected-s3")] * 2, seen
    assert all(s["cookie"] is None for s in seen), seen
