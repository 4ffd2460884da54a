"""The infusion visit in FHIR R4 (R4B models): the dose as a MedicationAdministration, each
vital sign as a vital-signs Observation with its LOINC code, sedation (MOAA/S) and
dissociation totals as exam Observations in our own code system (neither has a LOINC
code), every Observation `partOf` the administration.

LOINC: blood pressure panel 85354-9 with systolic 8480-6 and diastolic 8462-4, heart rate
8867-4, respiratory rate 9279-1, oxygen saturation 2708-6 with pulse oximetry 59408-5 (the
FHIR vital-signs profile asks for both). Routes in SNOMED CT: intravenous 47625008,
intramuscular 78421000, nasal 46713006. The product is named in text and in our code
system: no RxNorm code is exported until one is verified for each product.
"""

import uuid
from collections.abc import Callable

from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.observation import Observation

from ..models import MonitoringSession, Patient, Product, Route, VisitReading

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LOCAL = "https://afterglow.example.org/fhir/CodeSystem/infusion-visit"
_NAMESPACE = uuid.UUID("6f2b7f1e-4c55-4a7e-9d7f-3f0a8a2c1b90")
_ROUTES = {
    Route.IV: ("47625008", "Intravenous route"),
    Route.IM: ("78421000", "Intramuscular route"),
    Route.INTRANASAL: ("46713006", "Nasal route"),
}
_PRODUCTS = {Product.KETAMINE: "Ketamine", Product.ESKETAMINE: "Esketamine"}

RefFn = Callable[[str, object], str]


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


def _category(code: str, display: str) -> list[dict]:
    return [{"coding": [{"system": CATEGORY, "code": code, "display": display}]}]


def _quantity(value: int, unit: str, code: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _administration(session: MonitoringSession, ref: RefFn) -> dict:
    infusion = session.infusion
    start = infusion.started_at or session.started_at
    data: dict = {
        "id": _id("administration", infusion.pk),
        "status": "completed" if infusion.ended_at else "in-progress",
        "medicationCodeableConcept": {
            "coding": [{"system": LOCAL, "code": infusion.product}],
            "text": _PRODUCTS.get(infusion.product, infusion.product),
        },
        "subject": {"reference": ref("Patient", infusion.patient_id)},
        "effectivePeriod": {"start": start, "end": infusion.ended_at},
    }
    route = _ROUTES.get(infusion.route)
    dosage: dict = {}
    if route:
        dosage["route"] = {"coding": [{"system": SNOMED, "code": route[0], "display": route[1]}]}
    if infusion.total_dose_mg is not None:
        dosage["dose"] = _quantity(infusion.total_dose_mg, "mg", "mg")
    if infusion.dose_mg_per_kg is not None:
        dosage["text"] = f"{infusion.dose_mg_per_kg} mg/kg"
    if dosage:
        data["dosage"] = dosage
    if infusion.dose_override_reason:
        data["note"] = [{"text": f"Outside the clinic's range: {infusion.dose_override_reason}"}]
    return data


def _observations(reading: VisitReading, part_of: str, ref: RefFn) -> list[dict]:
    subject = {"reference": ref("Patient", reading.session.infusion.patient_id)}
    base = {
        "status": "final",
        "subject": subject,
        "effectiveDateTime": reading.taken_at,
        "partOf": [{"reference": part_of}],
    }
    vital = _category("vital-signs", "Vital Signs")
    out = []
    if reading.systolic is not None or reading.diastolic is not None:
        components = []
        for code, text, value in (
            ("8480-6", "Systolic blood pressure", reading.systolic),
            ("8462-4", "Diastolic blood pressure", reading.diastolic),
        ):
            if value is not None:
                components.append(
                    {
                        "code": {"coding": [{"system": LOINC, "code": code}], "text": text},
                        "valueQuantity": _quantity(value, "mmHg", "mm[Hg]"),
                    }
                )
        out.append(
            base
            | {
                "id": _id(reading.pk, "bp"),
                "category": vital,
                "code": {
                    "coding": [{"system": LOINC, "code": "85354-9"}],
                    "text": "Blood pressure panel",
                },
                "component": components,
            }
        )
    for key, codes, text, unit, ucum in (
        ("heart_rate", ("8867-4",), "Heart rate", "beats/minute", "/min"),
        ("resp_rate", ("9279-1",), "Respiratory rate", "breaths/minute", "/min"),
        ("spo2", ("2708-6", "59408-5"), "Oxygen saturation by pulse oximetry", "%", "%"),
    ):
        value = getattr(reading, key)
        if value is not None:
            out.append(
                base
                | {
                    "id": _id(reading.pk, key),
                    "category": vital,
                    "code": {
                        "coding": [{"system": LOINC, "code": c} for c in codes],
                        "text": text,
                    },
                    "valueQuantity": _quantity(value, unit, ucum),
                }
            )
    exam = _category("exam", "Exam")
    if reading.moaas is not None:
        out.append(
            base
            | {
                "id": _id(reading.pk, "moaas"),
                "category": exam,
                "code": {"coding": [{"system": LOCAL, "code": "MOAA-S"}], "text": "MOAA/S"},
                "valueInteger": reading.moaas,
            }
        )
    if reading.dissociation_score is not None:
        scale = reading.dissociation_scale
        out.append(
            base
            | {
                "id": _id(reading.pk, "dissociation"),
                "category": exam,
                "code": {
                    "coding": [{"system": LOCAL, "code": f"{scale}-total"}],
                    "text": f"{scale} total",
                },
                "valueInteger": reading.dissociation_score,
            }
        )
    return out


def visit_resources(patient: Patient, ref: RefFn) -> list[tuple[str, object]]:
    """(id, resource) of every visit of the patient: the administration, then its
    Observations in time order. Three queries whatever the number of visits."""
    sessions = (
        MonitoringSession.objects.filter(infusion__patient=patient)
        .select_related("infusion")
        .prefetch_related("readings")
        .order_by("started_at")
    )
    found: list[tuple[str, object]] = []
    for session in sessions:
        admin = _administration(session, ref)
        found.append((admin["id"], MedicationAdministration.model_validate(admin)))
        part_of = ref("MedicationAdministration", admin["id"])
        for reading in session.readings.all():
            reading.session = session
            for obs in _observations(reading, part_of, ref):
                found.append((obs["id"], Observation.model_validate(obs)))
    return found
