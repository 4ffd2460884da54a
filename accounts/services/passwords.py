"""A signed-in user changes their own password, and signs out their other devices."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from knox.models import AuthToken

from accounts.errors import DomainValidationError


def device_tokens_revoke_others(*, user, keep: AuthToken | None) -> int:
    """Revoke every token of the account but `keep` (the device asking)."""
    tokens = AuthToken.objects.filter(user=user)
    if keep is not None:
        tokens = tokens.exclude(digest=keep.digest)
    deleted, _ = tokens.delete()
    return deleted


@transaction.atomic
def password_change(*, user, current_password: str | None, new_password: str) -> bool:
    """Set a new password; returns whether the account's other devices are to be signed
    out (the caller does it, their push registrations first). An account that has one must
    give it (400 `invalid_password` on `current_password` otherwise: the caller counts it
    toward the lockout). An account enrolled without one (a patient who skipped it) sets
    its first and signs nothing out: a stolen token cannot lock the owner's phone out that
    way. The new one passes the password validators."""
    first = not user.has_usable_password()
    if not first and not user.check_password(current_password or ""):
        raise DomainValidationError.single(
            "current_password", "invalid_password", "The current password is not right."
        )
    try:
        validate_password(new_password, user=user)
    except DjangoValidationError as exc:
        raise DomainValidationError(
            {
                "new_password": [
                    (e.code or "invalid", str(e.message % (e.params or {}))) for e in exc.error_list
                ]
            }
        ) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    return not first
