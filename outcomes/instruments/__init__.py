"""Questionnaire instruments: versioned definition files and their schema."""
