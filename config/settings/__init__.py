"""Settings, split by environment (cookiecutter-django style).

Pick one with DJANGO_SETTINGS_MODULE: config.settings.local (default for manage.py),
config.settings.production, config.settings.test.
"""
