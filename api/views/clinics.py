from drf_spectacular.utils import extend_schema
from rest_framework import generics

from accounts.models import Clinic
from accounts.selectors import clinics_for_staff

from ..serializers import ClinicSerializer


class ClinicListView(generics.ListAPIView):
    """The clinics where the signed-in staff member holds a role."""

    serializer_class = ClinicSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Clinic.objects.none()
        return clinics_for_staff(user=self.request.user)

    @extend_schema(operation_id="clinics_list", summary="My clinics", tags=["clinics"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
