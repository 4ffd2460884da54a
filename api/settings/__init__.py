"""Settings, split by environment (cookiecutter-django style).

Pick one with DJANGO_SETTINGS_MODULE: api.settings.local (default for manage.py),
api.settings.production, api.settings.test.
"""
