"""FHIR R4 and CSV exports of check-ins submitted through the API."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from outcomes.exports.csv import CSV_COLUMNS, checkins_csv_rows, write_checkins_csv
from outcomes.exports.fhir import (
    CANONICAL_BASE,
    EXT_CALCULATED_EXPRESSION,
    EXT_ITEM_WEIGHT,
    EXT_ORDINAL_VALUE,
    NotExportable,
    observation_for,
    patient_bundle,
    questionnaire_for,
    questionnaire_response_for,
)
from outcomes.models import InstrumentResponse, InstrumentVersion
from outcomes.services.instruments import instrument_load_licensed, licensed_template
from tests.factories import (
    ClinicFactory,
    InstrumentVersionFactory,
    PatientFactory,
    checkin_payload,
    phq9,
)
from tests.helpers import client_for

URL = "/api/v1/me/check-ins/"
pytestmark = pytest.mark.django_db

PHQ9_ITEM_LOINC = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
PHQ9_ANSWER_LOINC = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
GAD7_ANSWERS = {"item1": 1, "item2": 1, "item3": 1, "item4": 1, "item5": 1, "item6": 1, "item7": 3}
ANSWERED_AT = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)


def submit(client, responses, answered_at=None):
    resp = client.post(
        URL, checkin_payload(responses=responses, answered_at=answered_at), format="json"
    )
    assert resp.status_code == 201, resp.json()
    return resp.json()


def all_four(client, answered_at=ANSWERED_AT):
    """PHQ-9 with item 9 > 0 (total 12), GAD-7 (total 9), PEG (mean 5), MOOD (7)."""
    return submit(
        client,
        [
            phq9(1, 2, 1, 2, 1, 1, 1, 1, 2),
            {"instrument": "GAD-7", "version": "1", "answers": GAD7_ANSWERS},
            {"instrument": "PEG", "version": "1", "answers": {"item1": 4, "item2": 5, "item3": 6}},
            {"instrument": "MOOD", "version": "1", "answers": {"item1": 7}},
        ],
        answered_at=answered_at,
    )


def response_of(patient, code) -> InstrumentResponse:
    return InstrumentResponse.objects.select_related("instrument_version").get(
        patient=patient, instrument_code=code
    )


def round_trip(model_cls, resource):
    again = model_cls.model_validate_json(resource.model_dump_json())
    assert again.model_dump_json() == resource.model_dump_json()
    return again


def extension(element, url):
    (ext,) = [e for e in element.extension or [] if e.url == url]
    return ext


# --- Questionnaire -------------------------------------------------------------------


def test_phq9_questionnaire_has_loinc_codes_and_item_weights():
    version = InstrumentVersion.objects.get(code="PHQ-9", version="1", clinic=None)
    q = round_trip(Questionnaire, questionnaire_for(version))

    assert q.url == f"{CANONICAL_BASE}/Questionnaire/PHQ-9"
    assert q.version == "1"
    assert q.status == "active"
    assert q.title == "Patient Health Questionnaire-9"
    assert [(c.system, c.code) for c in q.code] == [("http://loinc.org", "44249-1")]

    questions = [i for i in q.item if i.type == "choice"]
    assert [i.linkId for i in questions[:9]] == [f"item{n}" for n in range(1, 10)]
    assert [i.code[0].code for i in questions[:9]] == PHQ9_ITEM_LOINC
    assert all(i.code[0].system == "http://loinc.org" for i in questions[:9])
    for question in questions[:9]:
        assert question.required is True
        codings = [o.valueCoding for o in question.answerOption]
        assert [(c.system, c.code) for c in codings] == [
            ("http://loinc.org", code) for code in PHQ9_ANSWER_LOINC
        ]
        weights = [extension(o, EXT_ITEM_WEIGHT).valueDecimal for o in question.answerOption]
        ordinals = [extension(o, EXT_ORDINAL_VALUE).valueDecimal for o in question.answerOption]
        assert weights == ordinals == [Decimal(0), Decimal(1), Decimal(2), Decimal(3)]

    # Item 10 (difficulty, LOINC 69722-7) is shown but unscored: local codes, no weights.
    item10 = questions[9]
    assert item10.linkId == "item10"
    assert item10.code[0].code == "69722-7"
    assert not item10.required
    assert item10.answerOption[0].valueCoding.system == f"{CANONICAL_BASE}/CodeSystem/PHQ-9-answers"
    assert not item10.answerOption[0].extension

    (total,) = [i for i in q.item if i.type == "decimal"]
    assert total.readOnly is True
    assert total.code[0].code == "44261-6"
    expr = extension(total, EXT_CALCULATED_EXPRESSION).valueExpression
    assert expr.language == "text/fhirpath"
    assert expr.expression.count(".weight()") == 9
    assert "item10" not in expr.expression


def test_integer_instrument_questionnaire_has_integer_items_and_a_mean():
    q = round_trip(
        Questionnaire,
        questionnaire_for(InstrumentVersion.objects.get(code="PEG", version="1", clinic=None)),
    )
    assert q.code is None  # PEG has no panel LOINC
    assert [i.type for i in q.item] == ["integer", "integer", "integer", "decimal"]
    total = q.item[-1]
    assert total.code is None
    expr = extension(total, EXT_CALCULATED_EXPRESSION).valueExpression
    assert "/ 3" in expr.expression
    assert "Mean" in expr.description


def licensed_texts(code):
    template = licensed_template(code)
    return {
        "items": {it["link_id"]: f"Synthetic item {it['link_id']}" for it in template["items"]},
        "options": {
            name: [f"Synthetic option {o['value']}" for o in options]
            for name, options in template["option_sets"].items()
        },
    }


def test_reverse_scored_items_carry_reversed_weights():
    clinic = ClinicFactory()
    version, _ = instrument_load_licensed(clinic=clinic, code="EPDS", texts=licensed_texts("EPDS"))
    q = round_trip(Questionnaire, questionnaire_for(version))

    # A clinic's licensed text gets its own canonical: another clinic's differs.
    assert q.url == f"{CANONICAL_BASE}/Questionnaire/EPDS-clinic-{clinic.id}"
    by_link = {i.linkId: i for i in q.item}
    weights = {
        lid: [extension(o, EXT_ITEM_WEIGHT).valueDecimal for o in by_link[lid].answerOption]
        for lid in ("item1", "item3", "item10")
    }
    assert weights == {"item1": [0, 1, 2, 3], "item3": [3, 2, 1, 0], "item10": [3, 2, 1, 0]}
    coding = by_link["item3"].answerOption[0].valueCoding
    assert coding.system == f"{CANONICAL_BASE}/CodeSystem/EPDS-answers"
    assert coding.code == "item3_options-0"


def test_a_version_without_licensed_text_is_not_exported():
    template = licensed_template("EPDS")
    version = InstrumentVersionFactory(
        code="EPDS",
        version="1",
        title="EPDS",
        clinic=ClinicFactory(),
        definition=template,
        content_digest="synthetic",
    )
    with pytest.raises(NotExportable):
        questionnaire_for(version)


def test_triage_instrument_has_no_total_and_no_observation(patient_client, patient):
    version, _ = instrument_load_licensed(
        clinic=patient.clinic, code="C-SSRS-SCREENER", texts=licensed_texts("C-SSRS-SCREENER")
    )
    assert version.version == "2"  # the newest template: its safety rules are graded
    answers = {"q1": 0, "q2": 0, "q6": 0}
    submit(patient_client, [{"instrument": "C-SSRS-SCREENER", "version": "2", "answers": answers}])
    r = response_of(patient, "C-SSRS-SCREENER")
    assert r.total is None
    assert observation_for(r) is None
    qr = round_trip(QuestionnaireResponse, questionnaire_response_for(r))
    assert [i.linkId for i in qr.item] == ["q1", "q2", "q6"]
    q = questionnaire_for(r.instrument_version)
    assert "decimal" not in [i.type for i in q.item]
    (q3,) = [i for i in q.item if i.linkId == "q3"]
    assert q3.enableWhen[0].question == "q2"
    assert q3.enableWhen[0].answerCoding.code == "yes_no-1"
    bundle = round_trip(Bundle, patient_bundle(patient))
    assert [e.resource.get_resource_type() for e in bundle.entry] == [
        "Patient",
        "Questionnaire",
        "QuestionnaireResponse",
    ]


# --- QuestionnaireResponse and Observation -------------------------------------------


def test_questionnaire_response_points_at_canonical_and_version(patient_client, patient):
    all_four(patient_client)
    r = response_of(patient, "PHQ-9")
    qr = round_trip(QuestionnaireResponse, questionnaire_response_for(r))

    assert qr.id == str(r.id)
    assert qr.status == "completed"
    assert qr.questionnaire == f"{CANONICAL_BASE}/Questionnaire/PHQ-9|1"
    assert qr.subject.reference == f"Patient/{patient.id}"
    assert qr.authored == ANSWERED_AT
    assert [i.linkId for i in qr.item] == [f"item{n}" for n in range(1, 10)]
    codes = [i.answer[0].valueCoding.code for i in qr.item]
    assert codes == [PHQ9_ANSWER_LOINC[v] for v in (1, 2, 1, 2, 1, 1, 1, 1, 2)]

    mood = questionnaire_response_for(response_of(patient, "MOOD"))
    assert mood.item[0].answer[0].valueInteger == 7
    assert mood.questionnaire == f"{CANONICAL_BASE}/Questionnaire/MOOD|1"


def test_phq9_observation_is_the_total_derived_from_the_response(patient_client, patient):
    all_four(patient_client)
    r = response_of(patient, "PHQ-9")
    obs = round_trip(Observation, observation_for(r))

    assert obs.status == "final"
    assert [(c.system, c.code) for c in obs.code.coding] == [("http://loinc.org", "44261-6")]
    category = obs.category[0].coding[0]
    assert (category.system, category.code) == (
        "http://terminology.hl7.org/CodeSystem/observation-category",
        "survey",
    )
    assert r.total == 12
    assert obs.valueQuantity.value == Decimal(12)
    assert obs.valueQuantity.code == obs.valueQuantity.unit == "{score}"
    assert obs.valueQuantity.system == "http://unitsofmeasure.org"
    assert obs.subject.reference == f"Patient/{patient.id}"
    assert obs.effectiveDateTime == ANSWERED_AT
    assert [d.reference for d in obs.derivedFrom] == [f"QuestionnaireResponse/{r.id}"]
    assert obs.interpretation[0].text == "moderate"
    assert "safety:phq9_item9_self_harm" in obs.note[0].text
    assert obs.id != str(r.id)


def test_gad7_and_local_score_observations(patient_client, patient):
    all_four(patient_client)
    gad = observation_for(response_of(patient, "GAD-7"))
    assert gad.code.coding[0].code == "70274-6"
    assert gad.valueQuantity.value == Decimal(9)

    peg = round_trip(Observation, observation_for(response_of(patient, "PEG")))
    assert peg.code.coding[0].system == f"{CANONICAL_BASE}/CodeSystem/instrument-scores"
    assert peg.code.coding[0].code == "PEG-total"
    assert peg.valueQuantity.value == Decimal(5)
    assert peg.interpretation is None


# --- Bundle --------------------------------------------------------------------------


def resources_by_type(bundle):
    out = {}
    for entry in bundle.entry:
        out.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    return out


def test_patient_bundle_holds_exactly_the_patients_resources(patient_client, patient):
    patient.clinic_reference = "MRN-0042"
    patient.save(update_fields=["clinic_reference"])
    all_four(patient_client)
    submit(patient_client, [phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)], ANSWERED_AT + timedelta(days=14))
    other = PatientFactory(clinic=patient.clinic)
    all_four(client_for(other.user))

    bundle = round_trip(Bundle, patient_bundle(patient))
    assert bundle.type == "collection"
    by_type = resources_by_type(bundle)

    (fhir_patient,) = by_type["Patient"]
    assert fhir_patient.id == str(patient.id)
    assert fhir_patient.name[0].text == patient.display_name
    assert fhir_patient.identifier[0].value == "MRN-0042"

    assert sorted(q.url.rsplit("/", 1)[1] for q in by_type["Questionnaire"]) == [
        "GAD-7",
        "MOOD",
        "PEG",
        "PHQ-9",
    ]
    own = set(InstrumentResponse.objects.filter(patient=patient).values_list("id", flat=True))
    assert {qr.id for qr in by_type["QuestionnaireResponse"]} == {str(i) for i in own}
    assert len(by_type["Observation"]) == 5

    # Every reference resolves inside the bundle, and none leads to the other patient.
    full_urls = {e.fullUrl for e in bundle.entry}
    assert all(e.fullUrl == f"urn:uuid:{e.resource.id}" for e in bundle.entry)
    assert len(full_urls) == len(bundle.entry)
    for resource in by_type["QuestionnaireResponse"] + by_type["Observation"]:
        assert resource.subject.reference == f"urn:uuid:{patient.id}"
    for obs in by_type["Observation"]:
        assert obs.derivedFrom[0].reference in full_urls
    assert str(other.id) not in bundle.model_dump_json()


def checkins(client, n):
    start = datetime.now(UTC) - timedelta(days=n + 1)
    for i in range(n):
        all_four(client, answered_at=start + timedelta(days=i))


def bundle_queries(patient):
    with CaptureQueriesContext(connection) as ctx:
        bundle = patient_bundle(patient)
    return len(ctx.captured_queries), bundle


def test_bundle_query_count_does_not_grow_with_history(patient_client, patient):
    checkins(patient_client, 2)
    few, small = bundle_queries(patient)

    other = PatientFactory()
    checkins(client_for(other.user), 20)
    many, large = bundle_queries(other)

    assert few == many <= 3  # responses, versions; the infusion visits (none here)
    assert len(large.entry) == 1 + 4 + 20 * (4 + 4)
    assert len(small.entry) == 1 + 4 + 2 * (4 + 4)


# --- CSV -----------------------------------------------------------------------------


def csv_text(qs):
    out = io.StringIO(newline="")
    write_checkins_csv(checkins_csv_rows(qs), out)
    return out.getvalue()


def test_csv_has_a_header_and_a_row_per_response(patient_client, patient):
    body = all_four(patient_client)
    PatientFactory()  # another patient, not exported
    rows = list(
        csv.reader(io.StringIO(csv_text(InstrumentResponse.objects.filter(patient=patient))))
    )

    assert rows[0] == CSV_COLUMNS
    data = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert len(data) == 4
    assert {d["instrument"] for d in data} == {"PHQ-9", "GAD-7", "PEG", "MOOD"}
    phq = next(d for d in data if d["instrument"] == "PHQ-9")
    assert phq["patient_id"] == str(patient.id)
    assert phq["check_in_id"] == body["id"]
    assert phq["answered_at"] == "2025-03-10T14:30:00Z"
    received = datetime.fromisoformat(phq["received_at"])
    assert phq["received_at"].endswith("Z") and received.tzinfo is not None
    assert phq["instrument_version"] == "1"
    assert phq["total"] == "12"
    assert phq["band"] == "moderate"
    assert phq["flags"] == "safety:phq9_item9_self_harm"
    answers = json.loads(phq["answers_json"])
    assert answers == {f"item{i}": v for i, v in enumerate((1, 2, 1, 2, 1, 1, 1, 1, 2), 1)}
    peg = next(d for d in data if d["instrument"] == "PEG")
    assert peg["total"] == "5"
    assert json.loads(peg["answers_json"]) == {"item1": 4, "item2": 5, "item3": 6}


def test_csv_neutralises_formula_injection(patient_client, patient):
    patient.clinic_reference = '=HYPERLINK("http://evil.example","x")'
    patient.save(update_fields=["clinic_reference"])
    submit(patient_client, [{"instrument": "MOOD", "version": "1", "answers": {"item1": 5}}])

    rows = list(
        csv.reader(io.StringIO(csv_text(InstrumentResponse.objects.filter(patient=patient))))
    )
    assert rows[1][CSV_COLUMNS.index("clinic_reference")] == (
        '\'=HYPERLINK("http://evil.example","x")'
    )

    out = io.StringIO(newline="")
    write_checkins_csv([["+1", "-2", "@SUM(A1)", "\tx", "\rx", "safe", "a=b"]], out)
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "safe",
        "a=b",
    ]
