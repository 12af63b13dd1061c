"""Revoking API tokens when a login can no longer be used: one rule, kept here.

A patient's phone keeps its token until it signs out, so a token must die with the reason to trust
it: when the login is disabled (the patient login page, the admin's user form, a shell), when its
password changes (a reset by an administrator, the password change page, `changepassword`: whoever
knew the old password may already hold a token), and when the patient is discharged (`exercises.services.patient_discharge`, the admin's Discharge action). The
rule lives in receivers because the admin's user form saves the user itself, with no service in
between; receivers see every save, whichever way it came. The API also refuses a disabled account
and a discharged patient (exercises/api); revoking the token means the phone must sign in again,
which a disabled login cannot, rather than keep a key that a re-enabled login would make good again.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from patients.models import Patient


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="revoke_tokens_of_changed_login")
def revoke_tokens_of_changed_login(
    sender: Any, instance: Any, raw: bool = False, **kwargs: Any
) -> None:
    if raw:  # a restore (import_clinic) writes rows as they were; it holds no tokens
        return
    # `set_password` keeps the new password in `_password` until `save()` has run (this receiver
    # runs inside it), which tells a new password from any other save of the user.
    if not instance.is_active or getattr(instance, "_password", None) is not None:
        Token.objects.filter(user=instance).delete()


@receiver(post_save, sender=Patient, dispatch_uid="revoke_tokens_of_discharged_patient")
def revoke_tokens_of_discharged_patient(
    sender: Any, instance: Patient, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    if instance.discharged_at is not None and instance.user_id is not None:
        Token.objects.filter(user_id=instance.user_id).delete()
