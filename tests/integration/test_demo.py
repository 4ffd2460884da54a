"""The README's run command seeds demo data: the seed runs, fills the outcome pages, and
runs once."""

import pytest
from django.core.management import call_command

from accounts.models import Clinic, User
from config.demo import DEMO_CLINIC_SLUG, demo_seed
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def test_the_demo_seed_fills_the_clinic_and_its_outcome_pages(settings):
    settings.AFTERGLOW_DURABILITY_BOOTSTRAP = 20
    report = demo_seed()
    assert report.created and report.check_ins > 0 and len(report.patients) >= 3
    assert demo_seed().created is False  # once
    clinic = Clinic.objects.get(slug=DEMO_CLINIC_SLUG)
    client = client_for(User.objects.get(username="demo-clinician"))
    durability = client.get(f"/api/v1/clinics/{clinic.id}/durability/", {"instrument": "PHQ-9"})
    assert durability.status_code == 200
    assert durability.json()["groups"][0]["rates"]["courses"] >= 1
    patients = client.get("/api/v1/patients/").json()["results"]
    some = patients[0]["id"]
    outcomes = client.get(f"/api/v1/patients/{some}/outcomes/", {"instrument": "PHQ-9"})
    assert outcomes.status_code == 200 and outcomes.json()["courses"]
    booster = client.get(f"/api/v1/patients/{some}/booster/")
    assert booster.status_code == 200
    # The infusion visit: the nurse's floor, the REMS forms due and overdue, a summary.
    nurse = client_for(User.objects.get(username="demo-nurse"))
    forms = nurse.get(f"/api/v1/clinics/{clinic.id}/rems-forms/").json()
    assert sorted(f["status"] for f in forms) == ["due", "overdue"]
    assert [f["complete"] for f in forms if f["status"] == "due"] == [True]
    assert len(nurse.get(f"/api/v1/clinics/{clinic.id}/visit-alerts/").json()) == 1
    visit = nurse.get(f"/api/v1/infusions/{report.demo_infusion}/visit/").json()
    assert visit["status"] == "completed" and len(visit["readings"]) == 5


def test_the_project_commands_load(capsys):
    call_command("setup_periodic_tasks")
    assert "purge expired enrolment codes" in capsys.readouterr().out
