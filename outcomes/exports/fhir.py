"""FHIR R4 representation of instruments and answers (docs/clinical/INSTRUMENTS.md, "FHIR R4
representation"), built and validated with fhir.resources' R4B models (R4B is R4 for
Questionnaire, QuestionnaireResponse, Observation, Patient and Bundle; the package has no
plain R4 since 7.0).

- Questionnaire: one per instrument version. Items carry linkId and the LOINC code; answer
  options are codings (LOINC answer codes where the definition has them) carrying the
  option's *score* both as the SDC STU3+ `itemWeight` extension and as the older
  `ordinalValue` extension, so STU3-era consumers read the same weights. The total is a
  read-only item with an SDC calculatedExpression.
- QuestionnaireResponse: the raw answers, pointing at "canonical|version".
- Observation: category survey, code = the total-score LOINC, valueQuantity in {score},
  derivedFrom -> the QuestionnaireResponse.

fhir.resources validates structure and required fields, not terminology bindings, so the
codes here are checked by our own definition parser (LOINC check digits) and by tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import quote

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from outcomes.models import InstrumentResponse, InstrumentVersion, Patient, PatientStatus

from ..instruments import definition_for
from ..instruments.schema import Definition, Item, Option
from ..scoring import item_score
from .fhir_visits import visit_resources

# The base of every canonical URL and local code system we mint. It names our
# definitions; it need not resolve over HTTP (FHIR canonicals are identifiers first). It
# is a constant, not a setting, because a canonical must never change once exported:
# QuestionnaireResponses in other systems point at f"{CANONICAL_BASE}/Questionnaire/...".
CANONICAL_BASE = "https://afterglow.example.org/fhir"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
EXT_ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
EXT_ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
EXT_MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
EXT_MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
EXT_CALCULATED_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
)
# Our local code system for scores that have no LOINC code (PEG, MOOD, subscales).
SCORES_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/instrument-scores"
# Scoped per clinic: clinic_reference is unique within a clinic only.
PATIENT_REFERENCE_SYSTEM = CANONICAL_BASE + "/clinics/{clinic_id}/patient-reference"

# linkIds we add beside the definition's items. Definition link_ids match
# [A-Za-z][A-Za-z0-9_]*, so a hyphen keeps these from ever colliding with one.
PREAMBLE_LINK_ID = "preamble-text"
TOTAL_LINK_ID = "score-total"

# Observation ids are derived from the response id (uuid5), so exporting twice yields the
# same ids and a receiving system can de-duplicate.
_OBSERVATION_NAMESPACE = uuid.UUID("4a902da7-4582-4208-adda-c656f8eaaf23")

RefFn = Callable[[str, object], str]


class NotExportable(ValueError):
    """An instrument version that may not be exported (its text is not ours to ship)."""


def _relative_ref(resource_type: str, resource_id: object) -> str:
    return f"{resource_type}/{resource_id}"


def _urn_ref(resource_type: str, resource_id: object) -> str:
    return f"urn:uuid:{resource_id}"


def _decimal(value: float | int) -> Decimal:
    # 10.0 -> 10 and 4.67 -> 4.67: via str, so the binary float's noise never shows.
    if isinstance(value, float) and value.is_integer():
        return Decimal(int(value))
    return Decimal(str(value))


# --- canonical URLs and codings -------------------------------------------------------


def questionnaire_canonical(version: InstrumentVersion) -> str:
    """The Questionnaire's canonical URL, without the version.

    A clinic-loaded (licensed) version carries that clinic's licensed text, and two
    clinics may load the same code and version with different text; a canonical|version
    must name one questionnaire, so those canonicals include the clinic id.
    """
    code = quote(version.code, safe="")
    if version.clinic_id is not None:
        return f"{CANONICAL_BASE}/Questionnaire/{code}-clinic-{version.clinic_id}"
    return f"{CANONICAL_BASE}/Questionnaire/{code}"


def answers_system(code: str) -> str:
    """The local code system for answer options that have no LOINC answer code."""
    return f"{CANONICAL_BASE}/CodeSystem/{quote(code, safe='')}-answers"


def _option_coding(defn: Definition, item: Item, option: Option) -> dict:
    assert item.option_set is not None
    if option.loinc:
        coding = {"system": LOINC, "code": option.loinc}
    else:
        # Option sets share a code system per instrument, so the set's name is part of
        # the code: PHQ-9's "difficulty-1" is not its "frequency-1".
        coding = {"system": answers_system(defn.code), "code": f"{item.option_set}-{option.value}"}
    if option.text:
        coding["display"] = option.text
    return coding


def _loinc_codings(code: str | None) -> list[dict] | None:
    return [{"system": LOINC, "code": code}] if code else None


def _require_text(defn: Definition, version: InstrumentVersion) -> None:
    if not defn.text_included:
        raise NotExportable(
            f"{version.code} v{version.version} has no licensed text loaded; "
            "only versions with text are exported."
        )


# --- Questionnaire -------------------------------------------------------------------


def _weight_extensions(score: int) -> list[dict]:
    return [
        {"url": EXT_ITEM_WEIGHT, "valueDecimal": Decimal(score)},
        {"url": EXT_ORDINAL_VALUE, "valueDecimal": Decimal(score)},
    ]


def _questionnaire_item(defn: Definition, item: Item) -> dict:
    data: dict = {
        "linkId": item.link_id,
        "text": item.text,
        "type": "choice" if item.kind == "choice" else "integer",
        "code": _loinc_codings(item.loinc),
        "required": item.required,
    }
    if item.kind == "choice":
        options = []
        for option in defn.option_set(item):
            answer: dict = {"valueCoding": _option_coding(defn, item, option)}
            # An unscored item (PHQ-9 item 10, "how difficult") counts towards nothing,
            # so its options carry no weight rather than a misleading one.
            if item.scored:
                answer["extension"] = _weight_extensions(item_score(defn, item, option.value))
            options.append(answer)
        data["answerOption"] = options
    else:
        data["extension"] = [
            {"url": EXT_MIN_VALUE, "valueInteger": item.min},
            {"url": EXT_MAX_VALUE, "valueInteger": item.max},
        ]
    conditions = []
    for ew in item.conditions:
        controller = defn.item(ew.link_id)
        condition: dict = {"question": ew.link_id, "operator": "="}
        if controller.kind == "choice":
            option = next(o for o in defn.option_set(controller) if o.value == ew.equals)
            condition["answerCoding"] = _option_coding(defn, controller, option)
        else:
            condition["answerInteger"] = ew.equals
        conditions.append(condition)
    if conditions:
        data["enableWhen"] = conditions
    if len(conditions) > 1:
        data["enableBehavior"] = "any"  # enable_when_any (ASQ question 5)
    return data


def _score_term(item: Item) -> str:
    path = f"%resource.item.where(linkId='{item.link_id}').answer.value"
    # weight() is the SDC/FHIRPath function reading itemWeight (ordinalValue) of a coding.
    return f"{path}.weight()" if item.kind == "choice" else path


def _total_item(defn: Definition) -> dict | None:
    method = defn.scoring.method
    if method == "triage":
        return None  # C-SSRS: the result is a risk level, not a number
    items = defn.scored_items
    terms = " + ".join(_score_term(i) for i in items)
    names = ", ".join(i.link_id for i in items)
    if method == "domains":
        # QIDS-SR16: the sum over domains, each the sum or the highest of its items.
        by_link = {i.link_id: i for i in items}
        parts = []
        for sub in defn.scoring.subscales:
            scores = [_score_term(by_link[link]) for link in sub.items]
            if sub.method == "max" and len(scores) > 1:
                parts.append(f"({' | '.join(scores)}).max()")
            else:
                parts.append(" + ".join(scores))
        expression = " + ".join(parts)
        description = "Sum over its domains: " + "; ".join(
            f"{sub.title}" for sub in defn.scoring.subscales
        )
    elif method == "sum":
        expression = terms
        description = f"Sum of the item scores of {names}"
    else:
        # scoring._aggregate rounds a mean to 2 decimals (PEG, Krebs 2009).
        expression = f"(({terms}) / {len(items)}).round(2)"
        description = f"Mean of the item scores of {names}, to 2 decimals"
    return {
        "linkId": TOTAL_LINK_ID,
        "text": f"{defn.title}: total score",
        "type": "decimal",
        "readOnly": True,
        "code": _loinc_codings(defn.loinc.total),
        "extension": [
            {
                "url": EXT_CALCULATED_EXPRESSION,
                "valueExpression": {
                    "description": description,
                    "language": "text/fhirpath",
                    "expression": expression,
                },
            }
        ],
    }


def _questionnaire_data(version: InstrumentVersion, defn: Definition) -> dict:
    _require_text(defn, version)
    items = []
    if defn.preamble:
        items.append({"linkId": PREAMBLE_LINK_ID, "text": defn.preamble, "type": "display"})
    items += [_questionnaire_item(defn, item) for item in defn.items]
    total = _total_item(defn)
    if total is not None:
        items.append(total)
    name = "".join(ch for ch in version.code if ch.isalnum())
    return {
        "id": str(version.id),
        "url": questionnaire_canonical(version),
        "version": version.version,
        "name": name or None,
        "title": defn.title,
        "status": "active" if version.is_active else "retired",
        "subjectType": ["Patient"],
        "description": defn.description or None,
        "copyright": defn.licence.terms,
        "code": _loinc_codings(defn.loinc.panel),
        "item": items,
    }


def questionnaire_for(version: InstrumentVersion) -> Questionnaire:
    """The Questionnaire for one instrument version (raises NotExportable when the
    version has no text, i.e. a licensed template without the clinic's text)."""
    return Questionnaire.model_validate(_questionnaire_data(version, definition_for(version)))


# --- QuestionnaireResponse -----------------------------------------------------------


def _answer(defn: Definition, item: Item, value: int) -> dict:
    if item.kind == "choice":
        option = next(o for o in defn.option_set(item) if o.value == value)
        return {"valueCoding": _option_coding(defn, item, option)}
    return {"valueInteger": value}


def _questionnaire_response_data(response: InstrumentResponse, ref: RefFn) -> dict:
    version = response.instrument_version
    defn = definition_for(version)
    _require_text(defn, version)
    answers = response.answers
    items = [
        {"linkId": item.link_id, "text": item.text, "answer": [_answer(defn, item, answers[lid])]}
        for item in defn.items
        if (lid := item.link_id) in answers
    ]
    return {
        "id": str(response.id),
        "questionnaire": f"{questionnaire_canonical(version)}|{version.version}",
        "status": "completed",
        "subject": {"reference": ref("Patient", response.patient_id)},
        "authored": response.answered_at,
        "item": items,
    }


def questionnaire_response_for(response: InstrumentResponse) -> QuestionnaireResponse:
    """The answers of one instrument response, in the definition's item order."""
    return QuestionnaireResponse.model_validate(
        _questionnaire_response_data(response, _relative_ref)
    )


# --- Observation ---------------------------------------------------------------------


def observation_id(response: InstrumentResponse) -> str:
    """The Observation's id: stable for a response, distinct from the response's own id."""
    return str(uuid.uuid5(_OBSERVATION_NAMESPACE, str(response.id)))


def _score_quantity(value: float) -> dict:
    return {"value": _decimal(value), "unit": "{score}", "system": UCUM, "code": "{score}"}


def _observation_data(response: InstrumentResponse, ref: RefFn) -> dict | None:
    if response.total is None:
        return None  # a triage instrument (C-SSRS): no total to observe
    version = response.instrument_version
    defn = definition_for(version)
    _require_text(defn, version)
    if defn.loinc.total:
        coding = {"system": LOINC, "code": defn.loinc.total}
    else:
        coding = {"system": SCORES_SYSTEM, "code": f"{defn.code}-total"}
    subscale_titles = {s.code: s.title for s in defn.scoring.subscales}
    components = [
        {
            "code": {
                "coding": [{"system": SCORES_SYSTEM, "code": f"{defn.code}-{code}"}],
                "text": subscale_titles.get(code, code),
            },
            "valueQuantity": _score_quantity(value),
        }
        for code, value in response.subscales.items()
    ]
    data: dict = {
        "id": observation_id(response),
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [coding], "text": f"{defn.title} total score"},
        "subject": {"reference": ref("Patient", response.patient_id)},
        "effectiveDateTime": response.answered_at,
        "valueQuantity": _score_quantity(response.total),
        "derivedFrom": [{"reference": ref("QuestionnaireResponse", response.id)}],
        "component": components or None,
    }
    if response.band:
        # Text only: the bands (minimal ... severe) have no code in the
        # ObservationInterpretation value set, whose binding is extensible.
        data["interpretation"] = [{"text": response.band}]
    if response.flags:
        data["note"] = [{"text": "Flags: " + ", ".join(response.flags)}]
    return data


def observation_for(response: InstrumentResponse) -> Observation | None:
    """The total score as an Observation; None for an instrument without a total."""
    data = _observation_data(response, _relative_ref)
    return None if data is None else Observation.model_validate(data)


# --- Patient and Bundle --------------------------------------------------------------


def _patient_data(patient: Patient) -> dict:
    data: dict = {
        "id": str(patient.id),
        "active": patient.status == PatientStatus.ACTIVE,
        "name": [{"text": patient.display_name}],
    }
    if patient.clinic_reference:
        data["identifier"] = [
            {
                "use": "usual",
                "system": PATIENT_REFERENCE_SYSTEM.format(clinic_id=patient.clinic_id),
                "value": patient.clinic_reference,
            }
        ]
    return data


def patient_bundle(patient: Patient) -> Bundle:
    """A collection Bundle of everything this patient answered: the Patient, every
    Questionnaire used, and each response's QuestionnaireResponse and Observation; then
    each infusion visit (fhir_visits.py): the dose and the vital signs.

    Two queries whatever the history's length (the responses, then their versions).
    Entries have fullUrl "urn:uuid:<id>" and references inside the bundle use those
    URNs, because a relative "Patient/<id>" cannot be resolved against a URN fullUrl
    (FHIR Bundle reference-resolution rules).
    """
    responses = list(
        InstrumentResponse.objects.filter(patient=patient)
        # prefetch, not select_related: the definition JSON then travels once per
        # version rather than once per response row.
        .prefetch_related("instrument_version")
        .order_by("answered_at", "check_in_id", "position")
    )
    versions = {r.instrument_version_id: r.instrument_version for r in responses}

    resources: list[tuple[str, object]] = [(str(patient.id), FhirPatient(**_patient_data(patient)))]
    for version in sorted(versions.values(), key=lambda v: (v.code, v.version, str(v.id))):
        resources.append((str(version.id), questionnaire_for(version)))
    for response in responses:
        qr = _questionnaire_response_data(response, _urn_ref)
        resources.append((qr["id"], QuestionnaireResponse.model_validate(qr)))
        obs = _observation_data(response, _urn_ref)
        if obs is not None:
            resources.append((obs["id"], Observation.model_validate(obs)))
    resources += visit_resources(patient, _urn_ref)
    return Bundle.model_validate(
        {
            "type": "collection",
            "timestamp": timezone.now(),
            "entry": [
                {"fullUrl": f"urn:uuid:{rid}", "resource": resource} for rid, resource in resources
            ],
        }
    )
