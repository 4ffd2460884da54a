"""Questionnaire instruments: versioned definition files and their schema.

`definition_for` is how every layer reads a stored version's definition (notifications too:
a cadence step's recall check needs the instrument's recall window).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING

from .schema import Definition, parse_definition

if TYPE_CHECKING:
    from outcomes.models import InstrumentVersion


@lru_cache(maxsize=256)
def _parse_cached(version_id, digest: str, definition_json: str) -> Definition:
    return parse_definition(json.loads(definition_json))


def definition_for(version: InstrumentVersion) -> Definition:
    """The parsed definition of a stored version (parsed once per process: rows are immutable)."""
    return _parse_cached(
        version.id, version.content_digest, json.dumps(version.definition, sort_keys=True)
    )
