"""The request body's size, bounded before any view reads it (API.md: "Every request is
bounded: body size (413)").

Bodies of 3-10 MB answered 500: Django refused them deep inside DRF's parsing
(RequestDataTooBig) where nothing turned that into an answer. Here, before authentication
and before any view: a declared Content-Length over AFTERGLOW_MAX_BODY_BYTES is a 413, a
malformed one a 400. A body without a Content-Length (Transfer-Encoding: chunked) is never
read by Django's WSGI request or by DRF (both read Content-Length bytes): where the server
hands over a terminated stream (gunicorn does for a chunked body) it is read here, up to the
limit (413 past it), and handed on as a body of that length; a stream the server did not
terminate cannot be read safely and is refused with 411. The
JSON parser (api/parsers.py) counts what it reads as well, whatever was declared.
"""

import io

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream

from .exceptions import bad_request, length_required, request_too_large

# A Content-Length of more digits than this is over any limit (and Python refuses to read
# a number of more than 4300 digits).
_MAX_LENGTH_DIGITS = 18
_CHUNK = 64 * 1024


def _read_at_most(stream, limit: int) -> bytes:
    """What the stream holds, read up to `limit` bytes and no further."""
    parts: list[bytes] = []
    total = 0
    while total < limit:
        chunk = stream.read(min(_CHUNK, limit - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self._refusal(request) or self.get_response(request)

    def _refusal(self, request):
        limit = settings.AFTERGLOW_MAX_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            if not (declared.isascii() and declared.isdigit()):
                return bad_request(request)
            if len(declared) > _MAX_LENGTH_DIGITS or int(declared) > limit:
                return request_too_large(limit)
            return None
        if not request.META.get("HTTP_TRANSFER_ENCODING"):
            return None  # no body
        environ = getattr(request, "environ", {})
        if not environ.get("wsgi.input_terminated"):
            # WSGI: a body without a length may be read only from a stream the server
            # terminated; reading another could wait forever.
            return length_required()
        body = _read_at_most(environ["wsgi.input"], limit + 1)
        if len(body) > limit:
            return request_too_large(limit)
        # Within the limit: handed on as a body of that length (a phone that streams its
        # request is served like one that declared it).
        request._stream = LimitedStream(io.BytesIO(body), len(body))
        request.META["CONTENT_LENGTH"] = str(len(body))
        return None
