"""Exports of a patient's outcomes for other systems: FHIR R4 resources and CSV.

Pure builders over rows the caller has chosen (permission scoping is the selectors' and
views' job); nothing here speaks HTTP.
"""
