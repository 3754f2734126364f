"""Serving stored files with HTTP Range (RFC 9110 section 14), as Safari and iOS require for
media."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import Storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase

# At most 18 digits a side (10^18 bytes is an exabyte): longer numbers are no real range, and
# Python refuses to parse integers of more than 4,300 digits (a 500 before this bound).
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
_RANGE_TOO_LONG = re.compile(r"\d{19}")
_CHUNK = 64 * 1024


def _iter_range(fh, start: int, length: int):
    try:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        fh.close()


# What an object store is told to answer as Content-Disposition: no file name, whatever metadata
# the object was uploaded with (S3 sends an object's stored Content-Disposition otherwise).
SIGNED_DISPOSITION = "inline"


def signed_url(storage: Storage, name: str) -> str:
    """A short-lived URL of object storage for ``name`` whose answer names no file: the
    Content-Disposition is overridden (``response-content-disposition=inline``). For the
    server's own use (nginx fetches it): its path is the stored object's key, so it is never
    shown to a participant."""
    # Object stores' url() (django-storages) takes parameters; Storage.url() does not.
    url: Callable[..., str] = storage.url
    try:
        return url(name, parameters={"ResponseContentDisposition": SIGNED_DISPOSITION})
    except TypeError:  # a storage whose url() takes no parameters
        return storage.url(name)


def _object_store_response(
    request: HttpRequest, storage: Storage, name: str, content_type: str, cache_seconds: int
) -> HttpResponseBase:
    """The bytes of an object-storage file under the URL the participant asked (their opaque
    token), never a redirect to the store: a signed URL's path is the object's key, the same for
    every participant, and the store's answer carries the object's ETag (its content's MD5) and
    Last-Modified, which name the file just as well. Behind nginx
    (``MEDIA_ACCEL_REDIRECT_PREFIX``), nginx fetches the signed URL and passes the bytes on
    (deploy/nginx.conf drops those headers); without it, Django streams the object (one ranged
    GET; a thread is busy for the transfer). Either way the bytes pass through this server."""
    if settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        signed = urlsplit(signed_url(storage, name))
        target = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/") + signed.path
        resp: HttpResponseBase = HttpResponse(content_type=content_type)
        resp["X-Accel-Redirect"] = target + ("?" + signed.query if signed.query else "")
        resp["Cache-Control"] = f"private, max-age={cache_seconds}"
        return resp
    from botocore.exceptions import ClientError
    from storages.utils import clean_name

    # django-storages' own mapping of a name to its key (the storage's location prefix applied)
    key = storage._normalize_name(clean_name(name))  # type: ignore[attr-defined]
    params = {"Bucket": storage.bucket_name, "Key": key}  # type: ignore[attr-defined]
    header = request.headers.get("Range", "").strip()
    if _RANGE_TOO_LONG.search(header):
        return _range_too_long()
    match = _RANGE.match(header) if header else None
    if match and (match.group(1) or match.group(2)):
        params["Range"] = header  # one range: the store answers 206 (or 416) itself
    client = storage.connection.meta.client  # type: ignore[attr-defined]
    try:
        obj = client.get_object(**params)
    except ClientError as err:
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502)
        if status == 416:
            return HttpResponse(status=416)
        if status == 404:
            raise Http404 from None
        raise
    body = obj["Body"]

    def chunks():
        try:
            yield from body.iter_chunks(_CHUNK)
        finally:
            body.close()

    ranged = "ContentRange" in obj
    out = StreamingHttpResponse(chunks(), status=206 if ranged else 200, content_type=content_type)
    if ranged:
        out["Content-Range"] = obj["ContentRange"]
    out["Content-Length"] = str(obj["ContentLength"])
    out["Accept-Ranges"] = "bytes"
    out["Cache-Control"] = f"private, max-age={cache_seconds}"
    out["X-Content-Type-Options"] = "nosniff"
    return out


def _range_too_long() -> HttpResponse:
    return HttpResponse(
        "Range: a byte position has more than 18 digits",
        status=400,
        content_type="text/plain; charset=utf-8",
    )


def ranged_file_response(
    request: HttpRequest,
    storage: Storage,
    name: str,
    *,
    content_type: str | None = None,
    cache_seconds: int = 3600,
) -> HttpResponseBase:
    """A 200 with the whole file, or 206 Partial Content for a single ``Range: bytes=a-b``.

    Multi-range requests get the whole file (allowed by the RFC); an unsatisfiable range gets 416.
    """
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        storage.path(name)
        local = True
    except NotImplementedError:
        local = False
    if not local and hasattr(storage, "bucket_name"):  # S3 (django-storages) and compatibles
        return _object_store_response(request, storage, name, content_type, cache_seconds)
    if local and settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        # nginx serves the file (with Range) from its internal location once Django said yes.
        resp: HttpResponseBase = HttpResponse(content_type=content_type)
        resp["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT_PREFIX.rstrip("/") + "/" + name
        resp["Cache-Control"] = f"private, max-age={cache_seconds}"
        return resp
    size = storage.size(name)
    header = request.headers.get("Range", "").strip()
    if _RANGE_TOO_LONG.search(header):
        return _range_too_long()
    match = _RANGE.match(header) if header else None
    if match and (match.group(1) or match.group(2)):
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # suffix range: the last N bytes
            start = max(size - int(last), 0)
            end = size - 1
        if start >= size or end < start:
            resp = HttpResponse(status=416)
            resp["Content-Range"] = f"bytes */{size}"
            return resp
        length = end - start + 1
        resp = StreamingHttpResponse(
            _iter_range(storage.open(name, "rb"), start, length),
            status=206,
            content_type=content_type,
        )
        resp["Content-Range"] = f"bytes {start}-{end}/{size}"
        resp["Content-Length"] = str(length)
    else:
        resp = FileResponse(storage.open(name, "rb"), content_type=content_type)
        resp["Content-Length"] = str(size)
        # FileResponse names the stored file (Content-Disposition: inline; filename=...); that
        # name is the same for every participant and would undo the opaque per-participant URLs.
        resp.headers.pop("Content-Disposition", None)
    resp["Accept-Ranges"] = "bytes"
    resp["Cache-Control"] = f"private, max-age={cache_seconds}"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp
