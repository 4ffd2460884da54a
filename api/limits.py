"""The request body's size, bounded before any view reads it (API.md: "Every request is
bounded: body size (413)").

Bodies of 3-10 MB answered 500: Django refused them deep inside DRF's parsing
(RequestDataTooBig) where nothing turned that into an answer. Here, before authentication
and before any view: a declared Content-Length over AFTERGLOW_MAX_BODY_BYTES is a 413, a
malformed one a 400. A body without a Content-Length (Transfer-Encoding: chunked) is never
read by Django's WSGI request or by DRF (both read Content-Length bytes): it would pass as an
empty body, so it is refused with 411, or 413 when what the server can hand over (a
terminated wsgi.input, as gunicorn gives for a chunked body) is over the limit anyway. The
JSON parser (api/parsers.py) counts what it reads as well, whatever was declared.
"""

from django.conf import settings

from .exceptions import bad_request, length_required, request_too_large

# A Content-Length of more digits than this is over any limit (and Python refuses to read
# a number of more than 4300 digits).
_MAX_LENGTH_DIGITS = 18
_CHUNK = 64 * 1024


def _read_at_most(stream, limit: int) -> int:
    """How many bytes the stream holds, counted up to `limit` and no further."""
    total = 0
    while total < limit:
        chunk = stream.read(min(_CHUNK, limit - total))
        if not chunk:
            break
        total += len(chunk)
    return total


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
        size = _read_at_most(environ["wsgi.input"], limit + 1)
        if size > limit:
            return request_too_large(limit)
        return length_required() if size else None
