"""Schemathesis over the OpenAPI schema the app serves: every operation, signed in as each
role (patient, clinician, scheduler, clinic admin) and anonymous, in-process against the
Django WSGI app on the real PostgreSQL test database.

Done means 0 server errors and 0 schema violations (status code, content type, headers and
body all as documented); the number of cases run is printed in the normal `pytest -q` output.

Why one pytest test per role that drives Hypothesis itself, rather than `schema.parametrize()`:
schemathesis' own tests run outside pytest-django's per-test transaction, so they would see no
personas. Here each role's test builds its world (personas; check-ins, devices, courses,
infusions, plans in both clinics), then for every operation runs a bounded, derandomized set
of generated cases inside the test's transaction, calls the WSGI app with `case.call()` and
collects every failed check from `case.validate_response()` instead of stopping at the first.

Exclusions: none. The sign-out operations revoke the caller's token, so they run last, each
case with a freshly issued token of its own (the rest of the run keeps its token).

A second phase (test_hostile_bodies_never_reach_a_server_error) sends what no schema
describes: an oversized body, one nested 100,000 deep and one of invalid Unicode, to every
operation that takes a body, as every role.
"""

import traceback
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from functools import cache

import pytest
import schemathesis
from django.apps import apps
from django.core.cache import cache as django_cache
from django.core.signals import got_request_exception, request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services.tokens import device_token_issue
from notifications.services.devices import device_register
from notifications.services.plan_store import default_plan_ensure
from outcomes.models import InstrumentVersion
from outcomes.services.infusions import infusion_schedule, treatment_course_create
from tests.factories import checkin_payload, phq9

# Every operation as every role: slow, and run by default (`-m "not slow"` leaves it out).
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Generated cases per operation (positive: schema-valid data; negative: schema-violating data,
# which must be rejected with a documented 4xx). Tuned so that the five roles together stay
# well under 90 s on a 2-core machine. Anonymous callers are stopped by authentication before
# any input is read, so fewer cases say as much.
EXAMPLES = {"positive": 10, "negative": 4}
ANONYMOUS_EXAMPLES = {"positive": 4, "negative": 2}
# Sign-out operations revoke a token per case; a few cases prove the point.
SIGN_OUT_EXAMPLES = 3
SIGN_OUT = {"auth_sign_out", "auth_sign_out_all"}

ROLES = {
    "patient": "patient_a",
    "clinician": "clinician_x",
    "scheduler": "scheduler_x",
    "clinic_admin": "admin_x",
    "anonymous": None,
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
    "print_blob": False,
}

# Run totals across the per-role tests, printed once the last role has run.
TOTALS: Counter = Counter()


@cache
def wsgi_app():
    # Not config.wsgi: that module defaults to the production settings.
    return get_wsgi_application()


@contextmanager
def in_process():
    """Django's WSGI handler closes "old" connections when each request starts and ends,
    which inside pytest-django's transaction would close the test's connection. Django's test
    client avoids it the same way around each request (and reconnects the handler after)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@cache
def api_schema():
    """The schema as the app itself serves it at /api/schema/."""
    with in_process():
        return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app())


@pytest.fixture
def server_tracebacks():
    """The traceback of every exception the app turned into a 500."""
    tracebacks: list[str] = []

    def on_exception(**_):
        tracebacks.append(traceback.format_exc())

    got_request_exception.connect(on_exception)
    # Throttle counters live in the local-memory cache; every role starts with none.
    django_cache.clear()
    try:
        yield tracebacks
    finally:
        got_request_exception.disconnect(on_exception)


@pytest.fixture
def fuzz_world(personas):
    """Personas with data of their own in clinic X and, as foreign objects, in clinic Y."""
    w = personas
    soon = timezone.now() + timedelta(days=2)
    w.instrument_ids = list(InstrumentVersion.objects.values_list("id", flat=True))
    assert w.instrument_ids, "instrument definitions were not loaded"
    w.checkins, w.devices, w.infusions = {}, {}, {}
    for name in ("patient_a", "patient_y"):
        patient = getattr(w, name)
        # Item 9 above 0: a safety alert, where the app raises them.
        payload = checkin_payload(responses=[phq9(1, 2, 1, 2, 1, 2, 1, 2, 1)])
        resp = w.client(name).post("/api/v1/me/check-ins/", payload, format="json")
        assert resp.status_code == 201, resp.content
        w.checkins[name] = payload["id"]
        w.devices[name], _ = device_register(
            patient=patient, push_token=f"synthetic-{name}", platform="ios"
        )
        course = treatment_course_create(
            patient=patient, kind="induction", started_on=timezone.now().date()
        )
        w.infusions[name] = infusion_schedule(patient=patient, scheduled_at=soon, course=course)
    w.plans = [default_plan_ensure(clinic=c) for c in (w.clinic_x, w.clinic_y)]
    return w


def real_ids(w) -> dict[str, list[str]]:
    """Ids that exist: the caller's own (clinic X, patient A) first, then foreign ones."""
    patients = (w.patient_a, w.patient_b, w.patient_y)
    ids = {
        "patient_id": [p.id for p in patients],
        "check_in_id": [w.checkins["patient_a"], w.checkins["patient_y"]],
        "infusion_id": [w.infusions[n].id for n in ("patient_a", "patient_y")],
        "device_id": [w.devices[n].id for n in ("patient_a", "patient_y")],
        "plan_id": [p.id for p in w.plans],
        "clinic_id": [w.clinic_x.id, w.clinic_y.id],
        "instrument_version_id": w.instrument_ids,
    }
    try:
        alerts = apps.get_model("outcomes", "SafetyAlert").objects.filter(patient__in=patients)
        ids["alert_id"] = list(
            alerts.order_by("patient__clinic__name").values_list("id", flat=True)
        )
    except LookupError:
        pass
    return {name: [str(v) for v in values] for name, values in ids.items()}


def case_strategy(operation, ids: dict[str, list[str]], mode: GenerationMode):
    """Generated cases; where the path takes an id, most cases use a real one (each as
    likely as a random UUID, which must get the documented 404)."""
    strategies = [operation.as_strategy(generation_mode=mode)]
    for param in operation.path_parameters:
        for value in ids.get(param.name, []):
            strategies.append(
                operation.as_strategy(generation_mode=mode, path_parameters={param.name: value})
            )
    return st.one_of(strategies)


class Run:
    """One role's run: counts cases and collects failures, grouped by kind."""

    def __init__(self, role: str, user, tracebacks: list[str]):
        self.role = role
        self.user = user
        self.tracebacks = tracebacks
        self.cases = 0
        self.server_errors = 0
        self.violations = 0
        # (operation, check, status, title) -> the first example
        self.failures: dict[tuple, dict] = {}
        self.seen: Counter = Counter()

    def execute(self, case, token: str | None) -> None:
        self.tracebacks.clear()
        self.cases += 1
        headers = {"Authorization": f"Token {token}"} if token else {}
        # A 500 may come from a failed query, which aborts the test's transaction: each case
        # runs in a savepoint, rolled back when the app failed.
        savepoint = transaction.savepoint()
        try:
            with in_process():
                response = case.call(app=wsgi_app(), headers=headers)
        except Exception as exc:  # raised through the WSGI handler
            transaction.savepoint_rollback(savepoint)
            self.server_errors += 1
            self.record(case, "exception", None, type(exc).__name__, traceback.format_exc())
            return
        if response.status_code >= 500:
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                if isinstance(failure, ServerError):
                    self.server_errors += 1
                    detail = "".join(self.tracebacks) or response.text[:2000]
                else:
                    self.violations += 1
                    detail = failure.message
                check = type(failure).__name__
                self.record(case, check, response.status_code, failure.title, detail)

    def record(self, case, check, status, title, detail) -> None:
        key = (case.operation.label, check, status, title)
        self.seen[key] += 1
        if key not in self.failures:
            self.failures[key] = {"curl": case.as_curl_command(), "detail": detail}

    def fuzz(self, operation, strategy, max_examples: int, *, fresh_token: bool) -> None:
        token = None if self.user is None else device_token_issue(user=self.user)[1]

        @settings(max_examples=max_examples, **HYPOTHESIS)
        @given(case=strategy)
        def run(case):
            if fresh_token and self.user is not None:
                self.execute(case, device_token_issue(user=self.user)[1])
            else:
                self.execute(case, token)

        run()

    def report(self) -> str:
        """Server errors first, then schema violations; one entry per kind of failure."""
        lines = []
        for key in sorted(self.failures, key=lambda k: (k[1] != "ServerError", k[0], k[1])):
            label, check, status, title = key
            example = self.failures[key]
            detail = example["detail"].strip()
            if len(detail) > 3000:  # a traceback's end names the failing code
                detail = "...\n" + detail[-3000:]
            lines.append(
                f"\n[{self.role}] {label}: {check} ({title}), status {status}, "
                f"{self.seen[key]} case(s)\n  reproduce: {example['curl']}\n  {detail}"
            )
        return "".join(lines)


SUMMARY: list[str] = []  # printed at the end of the run by tests/integration/conftest.py


def write_line(request, line: str) -> None:
    SUMMARY.append(line)


@pytest.mark.parametrize("role", list(ROLES))
def test_schemathesis_every_operation(role, fuzz_world, server_tracebacks, request):
    w = fuzz_world
    persona = ROLES[role]
    who = getattr(w, persona) if persona else None
    run = Run(role, getattr(who, "user", who), server_tracebacks)
    ids = real_ids(w)
    schema = api_schema()
    examples = ANONYMOUS_EXAMPLES if persona is None else EXAMPLES

    operations = [result.ok() for result in schema.get_all_operations()]
    # The sign-outs last: they revoke tokens (and each of their cases gets its own).
    operations.sort(key=lambda op: schema.get_operation_id(op) in SIGN_OUT)
    for operation in operations:
        if schema.get_operation_id(operation) in SIGN_OUT:
            run.fuzz(operation, operation.as_strategy(), SIGN_OUT_EXAMPLES, fresh_token=True)
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = case_strategy(operation, ids, mode)
            run.fuzz(operation, strategy, examples[mode.value], fresh_token=False)

    TOTALS["cases"] += run.cases
    TOTALS["server_errors"] += run.server_errors
    TOTALS["violations"] += run.violations
    TOTALS["roles"] += 1
    write_line(
        request,
        f"schemathesis [{role}]: {len(operations)} operations, {run.cases} cases, "
        f"{run.server_errors} server errors, {run.violations} schema violations",
    )
    if TOTALS["roles"] == len(ROLES):
        write_line(
            request,
            f"schemathesis: {TOTALS['cases']} cases, {TOTALS['server_errors']} server errors, "
            f"{TOTALS['violations']} schema violations",
        )
    assert run.cases > 0
    assert (run.server_errors, run.violations) == (0, 0), run.report()


# --- bodies no schema describes --------------------------------------------------------------
# Schemathesis sends bodies shaped by the schema. These three once reached 500s (issue 15):
# over the size limit, nested 100,000 deep, and Unicode that is not (lone surrogates, in a key
# and in values). Each goes to every operation that takes a body, as every role; none may
# answer 5xx, and every refusal is in the one error shape.
HOSTILE_BODIES = {
    "oversized": b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "invalid unicode": b'{"\\ud800": 1, "note": "\\udfff", "steps": ["\\ud83d"]}',
}
BODY_METHODS = {"post", "put", "patch"}


def filled_path(operation, ids: dict[str, list[str]]) -> str:
    """The operation's path with each parameter an id of the caller's own (or a random one)."""
    path = operation.full_path
    for param in operation.path_parameters:
        value = (ids.get(param.name) or [str(uuid.uuid4())])[0]
        path = path.replace("{" + param.name + "}", value)
    return path


@pytest.mark.parametrize("role", list(ROLES))
def test_hostile_bodies_never_reach_a_server_error(role, fuzz_world, server_tracebacks, request):
    w = fuzz_world
    persona = ROLES[role]
    who = getattr(w, persona) if persona else None
    user = getattr(who, "user", who)
    ids = real_ids(w)
    schema = api_schema()
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.method.lower() in BODY_METHODS
    ]
    token = None if user is None else device_token_issue(user=user)[1]
    failures, calls = [], 0
    for operation in operations:
        path = filled_path(operation, ids)
        for name, body in HOSTILE_BODIES.items():
            # A sign-out revokes the token it is sent with: it gets one of its own.
            if user is not None and schema.get_operation_id(operation) in SIGN_OUT:
                token = device_token_issue(user=user)[1]
            headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
            server_tracebacks.clear()
            savepoint = transaction.savepoint()
            response = Client(raise_request_exception=False).generic(
                operation.method.upper(), path, body, content_type="application/json", **headers
            )
            calls += 1
            if response.status_code >= 500:
                transaction.savepoint_rollback(savepoint)
            else:
                transaction.savepoint_commit(savepoint)
            problem = None
            if response.status_code >= 500:
                problem = "".join(server_tracebacks)[-2000:] or response.content[:500]
            elif response.status_code >= 400:
                shape = response.json() if response["Content-Type"] == "application/json" else {}
                if set(shape) != {"type", "errors"}:
                    problem = f"not the error shape: {response.content[:300]!r}"
            if problem:
                failures.append(
                    f"\n[{role}] {operation.label} {name}: {response.status_code} {problem}"
                )
    write_line(
        request,
        f"hostile bodies [{role}]: {len(operations)} operations, {calls} requests, "
        f"{len(failures)} failures",
    )
    assert operations and calls == len(operations) * len(HOSTILE_BODIES)
    assert not failures, "".join(failures)
