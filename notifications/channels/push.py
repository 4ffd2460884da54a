"""Push through Firebase Cloud Messaging's HTTP v1 API (firebase-admin). FCM reaches iOS
through APNs, so one channel serves both platforms."""

import json
import threading

import firebase_admin
from django.conf import settings
from firebase_admin import credentials, exceptions, messaging

from . import Channel, Message, Target, TransportError

# FCM error classes that mean the token will never work again: disable the device.
_PERMANENT = (
    messaging.UnregisteredError,
    messaging.SenderIdMismatchError,
    exceptions.InvalidArgumentError,
    exceptions.NotFoundError,
    exceptions.PermissionDeniedError,
)
_lock = threading.Lock()


class FcmChannel(Channel):
    name = "push"
    targets = frozenset({Target.DEVICE})
    _app_name = "afterglow-fcm"

    def _app(self) -> firebase_admin.App:
        with _lock:
            try:
                return firebase_admin.get_app(self._app_name)
            except ValueError:
                info = settings.AFTERGLOW_FCM_CREDENTIALS
                if not info:
                    raise TransportError(
                        "FCM is not configured.", permanent=False, code="fcm_not_configured"
                    ) from None
                if isinstance(info, str):
                    info = json.loads(info)
                return firebase_admin.initialize_app(
                    credentials.Certificate(info),
                    {"projectId": info.get("project_id"), "httpTimeout": 10},
                    name=self._app_name,
                )

    @staticmethod
    def build(token: str, message: Message, collapse_key: str) -> messaging.Message:
        return messaging.Message(
            token=token,
            notification=messaging.Notification(title=message.title, body=message.body),
            data=message.data,
            android=messaging.AndroidConfig(
                priority="high", collapse_key=collapse_key, ttl=6 * 3600
            ),
            apns=messaging.APNSConfig(
                headers={"apns-priority": "10", "apns-collapse-id": collapse_key[:64]},
                payload=messaging.APNSPayload(aps=messaging.Aps(sound="default")),
            ),
        )

    def send(self, delivery, message: Message) -> str:
        device = delivery.device
        if device is None or device.disabled_at is not None:
            raise TransportError(
                "No usable device.", permanent=True, bad_target=False, code="no_device"
            )
        fcm_message = self.build(device.push_token, message, collapse_key=str(delivery.reminder_id))
        try:
            return messaging.send(fcm_message, app=self._app())
        except _PERMANENT as exc:
            raise TransportError(f"FCM: {exc.code}", permanent=True, code=_code(exc)) from exc
        except exceptions.FirebaseError as exc:
            raise TransportError(f"FCM: {exc.code}", permanent=False, code=_code(exc)) from exc


def _code(exc: exceptions.FirebaseError) -> str:
    # FCM's own reason (UnregisteredError) is the class; exc.code is only the HTTP status name.
    return f"{exc.code}:{type(exc).__name__}"
