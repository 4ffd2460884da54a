"""The API's JSON parser: every body bounded before it is parsed (API.md: "Every request is
bounded: body size (413), nesting and key counts (400) ... invalid Unicode is a 400").

Python's json module recurses once per level of nesting: a body nested 100,000 deep raised
RecursionError, a 500. A lone surrogate ("\\ud800") parsed into a str that no UTF-8 encoder
(PostgreSQL's, the renderer's) accepts: a 500 wherever it was first encoded. So the text is
measured before it is parsed (a linear scan, no recursion), and what was parsed must
encode as UTF-8. Each refusal is a ParseError with its own code, in the one error shape.
"""

import json
import re
from itertools import accumulate

from django.conf import settings
from rest_framework import exceptions, parsers, status

# The deepest legitimate body (a plan's step, an answer) is 4 levels deep; 32 leaves room for
# any shape to come and is far below the recursion that hurt.
MAX_JSON_DEPTH = 32
# The most keys a legitimate body holds: a plan of 40 steps of 11 fields, 440; a check-in
# of 12 instruments of up to 30 items, under 400.
MAX_JSON_KEYS = 1000

# A JSON string, possessive so that the scan stays linear: it always matches from a quote,
# to the closing quote or, unterminated, to the end (json then says what is wrong with it).
_STRING = re.compile(r'"(?:[^"\\]++|\\[\s\S]?)*+"?')
_NOT_STRUCTURE = re.compile(r"[^\[\]{}:]++")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# "\u0000" (an escape not itself escaped): PostgreSQL stores no NUL in text or jsonb.
_NUL = re.compile(r"(?<!\\)(?:\\\\)*+\\u0000")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def body_limit() -> int:
    return settings.AFTERGLOW_MAX_BODY_BYTES


def too_large_detail(limit: int) -> str:
    return f"The request body is over the limit of {limit} bytes."


def _refuse(detail: str, code: str) -> exceptions.ParseError:
    return exceptions.ParseError(detail, code=code)


def _measure(text: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH or more than MAX_JSON_KEYS keys, counted
    outside strings (each key of valid JSON is followed by exactly one ':')."""
    structure = _NOT_STRUCTURE.sub("", _STRING.sub("", text))
    if structure.count(":") > MAX_JSON_KEYS:
        raise _refuse(f"A request body has at most {MAX_JSON_KEYS} keys.", "too_many_keys")
    brackets = structure.replace(":", "")
    if brackets and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > MAX_JSON_DEPTH:
        raise _refuse(
            f"A request body is nested at most {MAX_JSON_DEPTH} levels deep.", "nesting_too_deep"
        )


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> object:
    """Bytes of at most the body limit to a JSON value, or a ParseError."""
    try:
        # RFC 8259: JSON between systems is UTF-8. Strict: a surrogate encoded as bytes, an
        # overlong form or a stray byte is refused here.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse("The request body is not valid UTF-8.", "invalid_unicode") from exc
    _measure(text)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:  # _measure bounds the depth; kept as a last guard
        raise _refuse("The request body is nested too deep.", "nesting_too_deep") from exc
    except ValueError as exc:
        raise _refuse(f"JSON parse error - {exc}", "parse_error") from exc
    try:
        # An escaped lone surrogate parses into a str that cannot be encoded.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(
            "The request body holds a lone surrogate (e.g. \\ud800), not a character.",
            "invalid_unicode",
        ) from exc
    if _NUL.search(text):
        raise _refuse("The request body holds a NUL character (\\u0000).", "null_character")
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, bounded (see the module's docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = body_limit()
        # The middleware (api/limits.py) refused a declared length over the limit; this
        # counts what is actually read, whatever was declared.
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestTooLarge(too_large_detail(limit))
        return parse_json(body)
