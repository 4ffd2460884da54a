"""Health data never reaches a log: a line carrying an answer or a score is rewritten
before any handler writes it, whichever logger it came from."""

import copy
import io
import logging
import logging.config

import pytest
from django.conf import settings

from config.logging import REDACTED, HealthDataFilter

LEAKS = [
    ("answers %s", ({"item1": 3, "item9": 2},)),
    ("check-in %s scored total=%s band=%s", ("5f0c", 19, "moderately severe")),
    ("%s", ({"instrument": "PHQ-9", "total": 21.0},)),
    ("PHQ-9: %d", (17,)),
    ("score: 12 for patient %s", ("5f0c",)),
    ("the patient reported suicidal: yes", ()),
    ("q4=1 q5=0", ()),
    ("Bad request body {'answers': {'item2': 7}}", ()),
]
HARMLESS = [
    ("dispatch: %d sent, %d nudged, %d missed", (12, 3, 1)),
    ("delivery %s via %s: %s (retrying, attempt %d)", ("9d1e", "push", "UNAVAILABLE", 2)),
    ("Loaded instrument versions: %s", ("GAD-7 v1, MOOD v1, PHQ-9 v1",)),
    ("Bad Request: %s", ("/api/v1/me/check-ins/",)),
]


@pytest.fixture
def stream():
    """The project's own LOGGING, with its console handler writing into a buffer."""
    config = copy.deepcopy(settings.LOGGING)
    buffer = io.StringIO()
    config["handlers"]["console"]["stream"] = buffer
    config["handlers"]["console"]["class"] = "logging.StreamHandler"
    logging.config.dictConfig(config)
    yield buffer
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.parametrize(("msg", "args"), LEAKS)
@pytest.mark.parametrize("logger_name", ["outcomes.services", "django.request", "celery.task"])
def test_a_line_carrying_an_answer_or_score_cannot_be_written(stream, logger_name, msg, args):
    logging.getLogger(logger_name).warning(msg, *args)
    written = stream.getvalue()
    assert REDACTED in written
    assert (msg % args if args else msg) not in written
    for value in args:
        if isinstance(value, int):
            assert str(value) not in written.split(logger_name, 1)[1]


@pytest.mark.parametrize(("msg", "args"), HARMLESS)
def test_ids_counts_and_paths_pass_unchanged(stream, msg, args):
    logging.getLogger("notifications.services.dispatch").warning(msg, *args)
    assert msg % args in stream.getvalue()


def test_an_exception_carrying_answers_is_redacted_with_its_traceback(stream):
    try:
        raise ValueError("bad answers: {'item9': 3}")
    except ValueError:
        logging.getLogger("api").exception("submission failed")
    written = stream.getvalue()
    assert "item9" not in written
    assert REDACTED in written


def test_every_configured_handler_carries_the_filter():
    for name, handler in settings.LOGGING["handlers"].items():
        assert "no_health_data" in handler.get("filters", []), name
    assert settings.LOGGING["filters"]["no_health_data"]["()"] == "config.logging.HealthDataFilter"
    # Celery workers must not replace these handlers with their own, unfiltered ones.
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False


def test_the_filter_never_drops_a_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "total=%s", (9,), None)
    assert HealthDataFilter().filter(record) is True
    assert record.getMessage() == REDACTED
