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
    text = text.replace("/etc/ssl/certs/ssl-cert-snakeoil.pem", str(cert))
    text = text.replace("/etc/ssl/private/ssl-cert-snakeoil.key", str(key))
    text = text.replace("/tmp/musiscene-nginx", str(tmp_path / "nginx"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = subprocess.run([NGINX, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
