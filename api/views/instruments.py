from drf_spectacular.utils import extend_schema
from rest_framework import generics

from accounts.errors import NotFoundError
from outcomes.selectors import instrument_clinic_ids_for, instrument_versions_visible

from ..filters import InstrumentFilter
from ..serializers import InstrumentVersionSerializer


class InstrumentListView(generics.ListAPIView):
    """Questionnaire definitions; the app renders its forms from them."""

    serializer_class = InstrumentVersionSerializer
    filterset_class = InstrumentFilter
    pagination_class = None

    def get_queryset(self):
        return instrument_versions_visible(
            clinic_ids=instrument_clinic_ids_for(user=self.request.user)
        )

    @extend_schema(
        operation_id="instruments_list", summary="Instrument definitions", tags=["instruments"]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class InstrumentDetailView(generics.RetrieveAPIView):
    serializer_class = InstrumentVersionSerializer
    lookup_url_kwarg = "instrument_version_id"

    def get_queryset(self):
        return instrument_versions_visible(
            clinic_ids=instrument_clinic_ids_for(user=self.request.user)
        )

    def get_object(self):
        try:
            return self.get_queryset().get(id=self.kwargs["instrument_version_id"])
        except self.get_queryset().model.DoesNotExist as exc:
            raise NotFoundError from exc

    @extend_schema(
        operation_id="instruments_retrieve", summary="One instrument version", tags=["instruments"]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
