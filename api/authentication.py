"""Token authentication: knox's, with the patient behind an app account read in the same
query as the token: one query fewer on every request from the phone
(docs/BENCHMARKS.md, "Clinic-network scale")."""

from hmac import compare_digest

from knox import auth as knox_auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions


class TokenAuthentication(knox_auth.TokenAuthentication):
    """Exactly knox's checks (the same tokens accepted and refused, the same expiry
    clean-up, renewal and signals, all knox's own code), with one change: the token query
    also joins the patient behind the account and their clinic, where a staff account
    finds none. IsPatient and the patient's views then take the patient from the user
    (`request_patient`) instead of reading it again."""

    def authenticate_credentials(self, token):
        # knox 5.1's authenticate_credentials; only the select_related differs. A test
        # (test_auth_api.py) fails if an upgrade changes knox's, so the two are compared.
        msg = "Invalid token."
        token = token.decode("utf-8")
        for auth_token in (
            get_token_model()
            .objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user", "user__patient", "user__patient__clinic")
        ):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, ValueError) as exc:  # binascii.Error is a ValueError
                raise exceptions.AuthenticationFailed(msg) from exc
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)
