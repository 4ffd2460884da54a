"""Request limits without a database: the JSON parser's nesting, key-count, size and
Unicode checks (by the thousand, with hypothesis), the body-size middleware, the error
list's cap, and the plan limits of notifications/cadence.py."""

import io
import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import exceptions

from api.exceptions import MAX_ERRORS, ExceptionHandler
from api.limits import RequestBodyLimitMiddleware
from api.parsers import MAX_JSON_DEPTH, MAX_JSON_KEYS, JSONParser, RequestTooLarge
from notifications.cadence import (
    MAX_STEPS,
    MIN_STEP_SPACING_MINUTES,
    StepsInvalid,
    parse_steps,
)
from notifications.cadence_templates import DEFAULT_PLAN_STEPS, templates


def parse(body: bytes):
    return JSONParser().parse(io.BytesIO(body), "application/json", {})


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- the parser -------------------------------------------------------------------------------
def test_nesting_up_to_the_limit_is_parsed():
    assert MAX_JSON_DEPTH == 32
    value = parse(nested(MAX_JSON_DEPTH))
    for _ in range(MAX_JSON_DEPTH - 1):
        (value,) = value
    assert value == []


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000, 500_000])
def test_nesting_beyond_the_limit_is_a_parse_error(depth):
    with pytest.raises(exceptions.ParseError) as exc:
        parse(nested(depth))
    assert exc.value.get_codes() == "nesting_too_deep"


def test_objects_and_lists_count_alike():
    body = b'{"a": [{"b": ' * 16 + b"1" + b"}]}" * 16
    with pytest.raises(exceptions.ParseError):
        parse(body)
    assert parse(b'{"a": [{"b": ' * 8 + b"1" + b"}]}" * 8)


def test_brackets_inside_strings_do_not_count():
    text = "[" * 40 + "]" * 40
    assert parse(json.dumps({"a": text, "b": '\\"[[[', "c": "}}}"}).encode())["a"] == text


@pytest.mark.parametrize("where", ["flat", "nested"])
def test_keys_up_to_the_limit_are_parsed_and_one_more_is_refused(where):
    def body(n: int) -> bytes:
        keys = {f"k{i}": i for i in range(n)}
        doc = keys if where == "flat" else {"outer": [keys]}
        return json.dumps(doc).encode()

    extra = 1 if where == "nested" else 0  # "outer" is a key too
    assert parse(body(MAX_JSON_KEYS - extra))
    with pytest.raises(exceptions.ParseError) as exc:
        parse(body(MAX_JSON_KEYS - extra + 1))
    assert exc.value.get_codes() == "too_many_keys"


@pytest.mark.parametrize(
    "body",
    [
        b'{"\\ud800": 1}',
        b'{"a": "x\\udfffy"}',
        b'[["\\ud83d"]]',
        b'"\\ud800"',
        b'{"a": "\\udc00\\ud800"}',  # low then high: not a pair
        b'{"a": "\xff"}',
        b'{"a": "\xed\xa0\x80"}',
        b'{"a": "\xc0\xaf"}',  # an overlong encoding
    ],
)
def test_invalid_unicode_is_a_parse_error(body):
    with pytest.raises(exceptions.ParseError) as exc:
        parse(body)
    assert exc.value.get_codes() == "invalid_unicode"


def test_a_surrogate_pair_and_escaped_backslashes_are_fine():
    assert parse(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    assert parse(b'{"a": "\\\\ud800"}') == {"a": "\\ud800"}


def test_a_nul_character_is_refused():
    """PostgreSQL stores no NUL in text or jsonb: refused here, not by the database."""
    with pytest.raises(exceptions.ParseError) as exc:
        parse(b'{"label": "a\\u0000b"}')
    assert exc.value.get_codes() == "null_character"
    assert parse(b'{"label": "a\\\\u0000b"}') == {"label": "a\\u0000b"}


def test_the_parser_reads_no_more_than_the_limit(settings):
    settings.AFTERGLOW_MAX_BODY_BYTES = 100
    assert parse(b'{"a": "' + b"x" * 90 + b'"}')
    with pytest.raises(RequestTooLarge) as exc:
        parse(b'{"a": "' + b"x" * 100 + b'"}')
    assert exc.value.status_code == 413


def test_plain_bad_json_is_still_a_parse_error():
    for body in (b"", b"{", b'{"a": NaN}', b"[1,]", b"\xef\xbb\xbf{}"):
        with pytest.raises(exceptions.ParseError):
            parse(body)


JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=40,
).map(lambda v: json.dumps(v).encode())
NOISE = st.lists(
    st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b":", b",", b"1", b"\\ud800", b"\xff"]),
    max_size=200,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(body=JSON_TEXT | NOISE | st.binary(max_size=200))
def test_any_body_is_parsed_or_refused_as_a_parse_error(body):
    try:
        value = parse(body)
    except exceptions.ParseError:
        return
    # What is accepted re-encodes as UTF-8 (PostgreSQL and the renderer will).
    json.dumps(value, ensure_ascii=False).encode()


# --- the middleware ---------------------------------------------------------------------------
def call(environ_extra: dict, body: bytes = b"") -> tuple[HttpResponse, bool]:
    reached = []

    def view(request):
        reached.append(request)
        return HttpResponse("ok")

    request = RequestFactory().generic(
        "POST", "/api/v1/me/check-ins/", body, content_type="application/json", **environ_extra
    )
    return RequestBodyLimitMiddleware(view)(request), bool(reached)


def test_a_declared_length_over_the_limit_is_a_413_without_reading(settings):
    settings.AFTERGLOW_MAX_BODY_BYTES = 10
    response, reached = call({"CONTENT_LENGTH": "11"}, b"x" * 11)
    assert response.status_code == 413 and not reached
    assert json.loads(response.content)["errors"][0]["code"] == "request_too_large"
    response, reached = call({}, b"x" * 10)
    assert response.status_code == 200 and reached


@pytest.mark.parametrize("length", ["x", "-5", " 12", "1.0", "١٢"])
def test_a_malformed_length_is_a_400(length):
    response, reached = call({"CONTENT_LENGTH": length}, b"{}")
    assert response.status_code == 400 and not reached


def test_an_unterminated_stream_without_a_length_is_not_read():
    """WSGI says a body without Content-Length may be read only when the server says it
    is terminated; otherwise reading could wait forever."""
    stream = io.BytesIO(b"x" * 50)
    response, reached = call(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream, "CONTENT_LENGTH": ""}
    )
    assert response.status_code == 411 and not reached


def test_a_terminated_stream_is_counted_and_within_the_limit_handed_on(settings):
    settings.AFTERGLOW_MAX_BODY_BYTES = 10
    over, _ = call(
        {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b"x" * 11),
            "wsgi.input_terminated": True,
        }
    )
    assert over.status_code == 413
    seen = []

    def view(request):
        seen.append((request.META["CONTENT_LENGTH"], request.body))
        return HttpResponse("ok")

    request = RequestFactory().generic(
        "POST",
        "/api/v1/me/check-ins/",
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(b"x" * 10), "wsgi.input_terminated": True},
    )
    request.META.pop("CONTENT_LENGTH", None)
    within = RequestBodyLimitMiddleware(view)(request)
    assert within.status_code == 200
    assert seen == [("10", b"x" * 10)]


def test_an_empty_chunked_body_passes():
    response, reached = call(
        {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.input_terminated": True,
        }
    )
    assert response.status_code == 200 and reached


# --- the error list's cap ---------------------------------------------------------------------
def handle(exc: Exception):
    return ExceptionHandler(exc, {"view": None, "request": None}).run()


@pytest.mark.parametrize(("count", "shown"), [(1, 1), (MAX_ERRORS, MAX_ERRORS), (500, 51)])
def test_the_error_list_is_capped(count, shown):
    exc = exceptions.ValidationError({f"f{i:04}": ["Bad."] for i in range(count)})
    response = handle(exc)
    errors = response.data["errors"]
    assert len(errors) == shown
    assert [e["attr"] for e in errors[:MAX_ERRORS]] == [f"f{i:04}" for i in range(shown)][
        :MAX_ERRORS
    ]
    if count > MAX_ERRORS:
        assert errors[-1] == {
            "code": "too_many_errors",
            "detail": f"{count - MAX_ERRORS} more errors not shown.",
            "attr": None,
        }


# --- plan limits ------------------------------------------------------------------------------
RECALL = {"MOOD": 0, "PHQ-9": 14 * 24, "GAD-7": 14 * 24, "PAIN-NRS": 0}


def step(i: int, minutes: int, **kw) -> dict:
    return {
        "key": f"s{i}",
        "offset_minutes": i * minutes,
        "instruments": ["MOOD"],
        "window_hours": 1,
        **kw,
    }


def test_the_step_cap_leaves_room_beyond_every_shipped_template():
    # The shipped templates have 20 steps; a merged plan of several conditions is planned
    # per condition, not as one list (course_plan.py), so twice that is room enough.
    assert MAX_STEPS == 40
    assert all(len(t.steps) <= MAX_STEPS // 2 for t in templates().values())
    assert len(DEFAULT_PLAN_STEPS) <= MAX_STEPS
    parse_steps([step(i, 30) for i in range(MAX_STEPS)], recall_hours=RECALL)
    with pytest.raises(StepsInvalid) as exc:
        parse_steps([step(i, 30) for i in range(MAX_STEPS + 1)], recall_hours=RECALL)
    assert exc.value.errors == {"steps": [("invalid", "A plan has a list of 1 to 40 steps.")]}


def test_steps_of_one_anchor_closer_than_the_spacing_are_refused():
    assert MIN_STEP_SPACING_MINUTES == 30
    with pytest.raises(StepsInvalid) as exc:
        parse_steps([step(0, 1), step(1, 29)], recall_hours=RECALL)
    assert exc.value.errors == {
        "steps.1.offset_minutes": [("invalid", "At least 30 minutes after step 's0' (29 minutes).")]
    }
    parse_steps([step(0, 1), step(1, 30)], recall_hours=RECALL)


def test_spacing_is_checked_in_the_order_the_steps_fall_whatever_the_list_order():
    with pytest.raises(StepsInvalid) as exc:
        parse_steps([step(2, 30), step(0, 30), step(1, 10)], recall_hours=RECALL)
    # s1 at 10 minutes: 10 after s0 (0); s2 at 60 is 50 after s1.
    assert list(exc.value.errors) == ["steps.2.offset_minutes"]


def test_steps_of_different_anchors_may_coincide():
    steps = [
        step(0, 0, anchor="infusion_end", offset_minutes=20160),
        step(1, 0, anchor="course_start", offset_minutes=20160),
        step(2, 0, anchor="infusion_start", offset_minutes=20160),
    ]
    assert len(parse_steps(steps, recall_hours=RECALL)) == 3


def test_aligned_steps_are_spaced_by_their_local_time():
    day = 1440
    apart = [
        step(0, 0, offset_minutes=day, align_local_time="09:00"),
        step(1, 0, offset_minutes=day, align_local_time="21:00"),
    ]
    assert len(parse_steps(apart, recall_hours=RECALL)) == 2
    close = [
        step(0, 0, offset_minutes=day, align_local_time="09:00"),
        step(1, 0, offset_minutes=day, align_local_time="09:20"),
    ]
    with pytest.raises(StepsInvalid) as exc:
        parse_steps(close, recall_hours=RECALL)
    assert list(exc.value.errors) == ["steps.1.offset_minutes"]


def test_every_shipped_template_keeps_its_spacing():
    for template in templates().values():
        parse_steps(template.steps, recall_hours=None)


def test_a_stored_plan_saved_under_the_older_rules_is_still_read():
    """The cap and the spacing are rules for a plan being saved; a stored plan (read with
    recall_hours=None) saved under the older cap of 100 steps is still planned."""
    stored = [step(i, 1) for i in range(100)]
    assert len(parse_steps(stored, recall_hours=None)) == 100
