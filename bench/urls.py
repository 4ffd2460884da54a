"""The API's URLs plus the load test's floor endpoint (bench.settings only)."""

from django.urls import path

from api.urls import handler404, handler500  # noqa: F401
from api.urls import urlpatterns as api_urlpatterns
from bench.floor.views import FloorView

urlpatterns = [*api_urlpatterns, path("bench/floor/", FloorView.as_view(), name="bench-floor")]
