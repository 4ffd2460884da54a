"""POST /bench/floor/: authenticate (knox), insert one row, answer 201."""

from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import FloorRow


class FloorInputSerializer(serializers.Serializer):
    id = serializers.UUIDField()


class FloorView(APIView):
    # The project's defaults: knox TokenAuthentication, IsAuthenticated, JSON in and out.
    def post(self, request):
        s = FloorInputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        row = FloorRow.objects.create(
            user_id=request.user.pk, client_id=s.validated_data["id"], created_at=timezone.now()
        )
        return Response({"id": row.id}, status=status.HTTP_201_CREATED)
