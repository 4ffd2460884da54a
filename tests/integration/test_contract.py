"""The schema an app is generated from says what the server does (issue 15, in part)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from outcomes.models import CheckIn
from tests.factories import checkin_payload, phq9
from tests.helpers import validation_error

pytestmark = pytest.mark.django_db
ANONYMOUS = {
    ("post", "/api/v1/auth/sign-in/"),
    ("post", "/api/v1/auth/sign-in/enrol/"),
    ("post", "/api/v1/auth/sign-in/verify/"),
    ("post", "/api/v1/auth/enrol/"),
}


def test_anonymous_operations_declare_no_security_and_the_rest_the_token():
    """`security: [{}]` read as "an authenticated client" to the generators."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    seen = {}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            seen[(method, path)] = operation.get("security")
    assert {op for op, security in seen.items() if security == []} == ANONYMOUS
    others = [op for op in seen if op not in ANONYMOUS]
    assert others and all(seen[op] == [{"knoxApiToken": []}] for op in others), [
        (op, seen[op]) for op in others if seen[op] != [{"knoxApiToken": []}]
    ]


@pytest.mark.parametrize("bad", [7, 12345678901234567890, True, ["x"]])
def test_an_integer_check_in_id_is_refused_not_turned_into_a_uuid(personas, bad):
    payload = checkin_payload(responses=[phq9(*[0] * 9)]) | {"id": bad}
    resp = personas.client("patient_a").post("/api/v1/me/check-ins/", payload, format="json")
    validation_error(resp, "id", "invalid")
    assert not CheckIn.objects.exists()


@pytest.mark.parametrize(
    ("persona", "method", "path"),
    [
        ("patient_a", "get", "/api/v1/me/"),
        ("patient_a", "get", "/api/v1/me/check-ins/"),
        ("clinician_x", "get", "/api/v1/patients/{patient_a}/"),
        ("clinician_x", "get", "/api/v1/patients/{patient_a}/exports/csv/"),
        ("clinician_y", "get", "/api/v1/patients/{patient_a}/"),  # a 404 too
        ("anonymous", "post", "/api/v1/auth/sign-in/"),
    ],
)
def test_no_api_response_may_be_stored_by_a_cache(world, persona, method, path):
    resp = getattr(world.client(persona), method)(path.format(patient_a=world.patient_a.id))
    assert resp["Cache-Control"] == "no-store"
    assert resp["Pragma"] == "no-cache"
