"""What the import checks row by row, as each row of the file comes in (docs/backups.md, items 5-6).

- `Ownership`: every row belongs to the clinic the header names, and points only at rows of the
  file;
- `collision_check`: the clinic and the users are not in this database already;
- `privileges_strip`: no user comes in with staff or superuser status;
- `reference_compare`: the ladder in the file is this database's ladder.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.base import DeserializedObject
from django.db import models
from django.db.models import Q

from clinic.data.backup.errors import BackupError
from clinic.data.backup.parts import PARTS, User
from exercises.models import Ladder, Stage
from patients.models import Clinic


class Ownership:
    """Every row of the file must belong to the clinic its header names.

    Defence in depth: the signature refuses a file changed by anyone without the export key, but
    the key is shared by every server of a move, and a file signed with it is only as sound as
    the hands it passed through. Without these checks such a file could add a membership or a
    patient to another clinic already in this database, or hang rows of this clinic on another
    clinic's patients. A real export never does: the rows are selected by clinic and patient.

    - A reference to a clinic names the file's clinic.
    - A live row's reference to another exported row (user, patient, prescription, ...) names a
      row imported from the file earlier (parents come first in the file).
    - A history row may also name an object that was deleted before the export, if that object's
      own history came with the file; its user references are not checked (a history row may
      name a user deleted since, and names no one's rights).
    - A history row's object is imported from the file, or is not in this database: history is
      never added to an object that is already here.
    """

    def __init__(self, *, clinic_id: Any, clinic_slug: Any) -> None:
        self.clinic_id = clinic_id
        self.clinic_slug = clinic_slug
        self.exported = {part.model for part in PARTS if not part.reference}
        # Primary keys imported so far, of the models other rows point at or keep history of
        # (not of every model: a clinic's million set logs need not be held twice).
        self.kept = {
            target
            for model in self.exported
            for target in [getattr(model, "instance_type", None)]
            + [f.related_model for f in model._meta.concrete_fields if f.is_relation]
            if target in self.exported
        }
        self.ids: dict[type[models.Model], set[Any]] = {model: set() for model in self.kept}
        # Objects deleted before the export whose history is in the file, per model.
        self.deleted: dict[type[models.Model], set[Any]] = {model: set() for model in self.kept}

    def check(self, obj: models.Model) -> None:
        model = type(obj)
        tracked: type[models.Model] | None = getattr(model, "instance_type", None)
        for f in model._meta.concrete_fields:
            if f.is_relation:
                self._reference_check(obj, f, tracked)
        if tracked is not None:
            self._history_check(obj, tracked)
        if model in self.kept:
            self.ids[model].add(obj.pk)

    def _reference_check(
        self, obj: models.Model, f: models.Field[Any, Any], tracked: type[models.Model] | None
    ) -> None:
        value = getattr(obj, f.attname)
        target = f.related_model
        if value is None or target is None or target in (Ladder, Stage):
            return  # reference data: checked against this database's ladder
        if target is Clinic:
            if value != self.clinic_id:
                self._refuse(
                    obj,
                    f"belongs to clinic id {value}, not to the file's clinic "
                    f"'{self.clinic_slug}' (id {self.clinic_id})",
                )
        elif tracked is not None and target is User:
            return
        elif target not in self.exported:
            self._refuse(obj, f"points at {target._meta.label_lower} {value}, not in the file")
        elif value not in self.ids[target] and (
            tracked is None or value not in self.deleted[target]
        ):
            self._refuse(
                obj,
                f"points at {target._meta.label_lower} {value} (field '{f.name}'), which is "
                "not among the file's rows",
            )

    def _history_check(self, obj: models.Model, tracked: type[models.Model]) -> None:
        object_id = getattr(obj, tracked._meta.pk.attname)
        if object_id not in self.ids[tracked] and object_id not in self.deleted[tracked]:
            # Not imported from the file: a deleted object's history (one query per such
            # object; deleted objects are few).
            if tracked._base_manager.filter(pk=object_id).exists():
                self._refuse(
                    obj,
                    f"is history of {tracked._meta.label_lower} {object_id}, which is in "
                    "this database and not in the file",
                )
            self.deleted[tracked].add(object_id)

    @staticmethod
    def _refuse(obj: models.Model, reason: str) -> None:
        raise BackupError(
            f"The file's {obj._meta.label_lower} {obj.pk} {reason}. An export holds one clinic's "
            "rows only: this file was edited or put together by hand. Nothing was imported."
        )


def collision_check(item: DeserializedObject, header: dict[str, Any]) -> None:
    """Clear refusals for the collisions people will meet; the database catches the rest."""
    obj = item.object
    if isinstance(obj, Clinic) and (obj.pk, obj.slug) != (
        header["clinic"]["id"],
        header["clinic"]["slug"],
    ):
        raise BackupError("The clinic in the file is not the one its header names: damaged.")
    if isinstance(obj, User):
        username = obj.get_username()
        clash = User.objects.filter(Q(pk=obj.pk) | Q(**{User.USERNAME_FIELD: username})).first()
        if clash is not None:
            raise BackupError(
                f"The user '{username}' (id {obj.pk}) would collide with the user "
                f"'{clash.get_username()}' (id {clash.pk}) already in this database. "
                "import_clinic only restores into a database without the clinic's users; "
                "nothing was imported."
            )


def privileges_strip(user: Any) -> bool:
    """Admin rights belong to a server, not to a clinic: an import never grants them, whatever
    the file says. The signature proves the file was signed with the export key, which every
    server of a move holds; it does not prove no one with that key edited it. Returns whether
    there was anything to remove, so the command can name who to re-grant."""
    had = bool(user.is_staff or user.is_superuser)
    user.is_staff = user.is_superuser = False
    return had


def reference_compare(obj: models.Model) -> list[str]:
    """The ladder must be the same rows here: prescriptions and sets point at stages by id.

    What a stage *is* (its ladder and number; a ladder's slug) must match, or the import refuses.
    Its wording may differ (an edit through the admin); that is reported, and the target's text
    is kept.
    """
    model = type(obj)
    here = model._default_manager.filter(pk=obj.pk).first()
    if isinstance(obj, Stage):
        identity = ["ladder_id", "number"]
        name = f"stage {obj.number} (id {obj.pk})"
    else:
        identity = ["slug"]
        name = f"ladder '{getattr(obj, 'slug', obj.pk)}' (id {obj.pk})"
    if here is None or any(getattr(here, f) != getattr(obj, f) for f in identity):
        raise BackupError(
            f"This database's ladder differs from the file's: {name} is missing or is another "
            "stage here. Restore into a database created by the same migrations; nothing was "
            "imported."
        )
    differing = [
        f.name
        for f in model._meta.concrete_fields
        if f.value_from_object(here) != f.value_from_object(obj)
    ]
    if differing:
        return [
            f"The {name} reads differently here ({', '.join(differing)}); kept this database's."
        ]
    return []
