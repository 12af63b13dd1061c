"""The demo's clinics and care teams (admin, therapists, staff), created or found, and the one
password every demo user shares.

They have no service (a clinic, a membership and a care-team user are set up by an administrator),
so they are created directly; everything clinical goes through the services (`seed`, `history`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User

from clinic.data.demo.clinics import CLINICS
from patients.models import Clinic, Membership, Role

ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class Login:
    role: str
    clinic: str
    username: str
    note: str = ""


@dataclass
class Cast:
    """The clinics and their care teams, created or found."""

    clinics: dict[str, Clinic] = field(default_factory=dict)
    therapists: dict[str, list[User]] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    user_ids: list[int] = field(default_factory=list)


def _team_user(username: str, first_name: str, last_name: str, **flags: bool) -> User:
    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{username}@example.org",
            **flags,
        },
    )
    return user


def cast_ensure() -> Cast:
    """Get or create the clinics, the superuser, the therapists and the staff (no service exists)."""
    cast = Cast()
    admin = _team_user(ADMIN_USERNAME, "Demo", "Admin", is_staff=True, is_superuser=True)
    # An "admin" that existed before (e.g. made by hand) still has to open the Django admin.
    get_user_model().objects.filter(pk=admin.pk).update(
        is_staff=True, is_superuser=True, is_active=True
    )
    cast.user_ids.append(admin.pk)
    cast.logins.append(Login("admin", "all clinics", admin.username, "Django admin"))
    for spec in CLINICS:
        clinic, _ = Clinic.objects.get_or_create(
            slug=spec.slug, defaults={"name": spec.name, "timezone": spec.timezone}
        )
        cast.clinics[spec.slug] = clinic
        team = [
            (f"therapist{n}.{spec.slug}", name, Role.THERAPIST)
            for n, name in enumerate(spec.therapists, start=1)
        ]
        team.append((f"staff.{spec.slug}", spec.staff, Role.STAFF))
        cast.therapists[spec.slug] = []
        for username, (first, last), role in team:
            user = _team_user(username, first, last)
            Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": role})
            if role == Role.THERAPIST:
                cast.therapists[spec.slug].append(user)
            cast.user_ids.append(user.pk)
            cast.logins.append(Login(str(role), clinic.name, username, f"{first} {last}"))
    return cast


def passwords_reset(user_ids: Sequence[int], password: str) -> int:
    """Give every demo user the same password, hashed once.

    The password hasher is deliberately slow (~0.3 s per hash); hashing it once per user would
    cost ~15 s for ~50 users. The demo password is shared and public anyway, so sharing the
    hash gives nothing away.
    """
    User = get_user_model()
    return User.objects.filter(pk__in=user_ids).update(password=make_password(password))
