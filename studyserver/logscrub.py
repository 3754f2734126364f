"""Logs never hold recruiter ids, media tokens or participant codes.

``scrub`` blanks them in any text: the values of PROLIFIC_PID, STUDY_ID and SESSION_ID (and any
``*_PID``) in query strings and form bodies, the token of a participant's media URL
(``/s/<study>/m/<token>``), and a participant cookie (``msp_<n>=<signed code>``). It is applied
to every log record the project writes (``ScrubFilter`` on the console handler) and to gunicorn's
access log (``ScrubbingGunicornLogger``, set in ``studyserver/gunicorn.conf.py``): its request
line, path, query string, referer and request headers.
"""

from __future__ import annotations

import logging
import re

_QUERY_ID = re.compile(
    r"(?i)\b((?:PROLIFIC_PID|STUDY_ID|SESSION_ID|[A-Z]*_PID|participant|code)=)[^&\s\"';]*"
)
_MEDIA_TOKEN = re.compile(r"(/s/[^/\s]+/m/)[^\s?\"']+")
_COOKIE = re.compile(r"\b(msp_\d+=)[^;\s\"']*")
SCRUBBED = "[scrubbed]"


def scrub(text: str) -> str:
    text = _QUERY_ID.sub(lambda m: m.group(1) + SCRUBBED, text)
    text = _MEDIA_TOKEN.sub(lambda m: m.group(1) + SCRUBBED, text)
    return _COOKIE.sub(lambda m: m.group(1) + SCRUBBED, text)


class ScrubFilter(logging.Filter):
    """Scrubs the formatted message of every record (and drops its args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is a production dependency; tests and the demo may run without
    _GunicornLogger = None

if _GunicornLogger is not None:

    class ScrubbingGunicornLogger(_GunicornLogger):
        """gunicorn's logger with the access log's request line, path, query, referer,
        request headers and environ scrubbed (``logger_class`` in
        ``studyserver/gunicorn.conf.py``)."""

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key in list(atoms):
                value = atoms[key]
                if isinstance(value, str) and (
                    key in ("r", "U", "q", "f", "a") or key.endswith(("}i", "}e"))
                ):
                    atoms[key] = scrub(value)
            return atoms
