"""Who the demo patients are: names, record numbers, stories, adherence, affected side and start
day, the same on every run (`patient_plans`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q

from clinic.data.demo.clinics import CLINICS, ClinicSpec
from clinic.data.demo.stories import WEEKS, Adherence, Scenario
from exercises.models import SetLog
from patients.models import AffectedSide, Patient

DEFAULT_PATIENTS_PER_CLINIC = 20

# Mixes for the STEADY patients, by their index in the clinic.
_ADHERENCE_CYCLE = (
    Adherence.HIGH,
    Adherence.MEDIUM,
    Adherence.HIGH,
    Adherence.LOW,
    Adherence.MEDIUM,
    Adherence.HIGH,
    Adherence.MEDIUM,
    Adherence.LOW,
)
_START_OFFSET_CYCLE = (56, 56, 49, 56, 42, 56, 35, 56, 28, 56, 21)
_AFFECTED_CYCLE = (
    AffectedSide.LEFT,
    AffectedSide.RIGHT,
    AffectedSide.BOTH,
    AffectedSide.RIGHT,
    AffectedSide.LEFT,
    AffectedSide.LEFT,
    AffectedSide.RIGHT,
)
_SPECIAL_ADHERENCE = {
    Scenario.READY: Adherence.HIGH,
    Scenario.PAIN: Adherence.MEDIUM,
    Scenario.NO_LOGS: Adherence.MEDIUM,
    Scenario.CLEARANCE_LAPSED: Adherence.HIGH,
    Scenario.RESTRICTED: Adherence.HIGH,
    Scenario.REVIEW_DUE: Adherence.MEDIUM,
    Scenario.CLEARANCE_MISSING: Adherence.NONE,
    Scenario.NOT_CLEARED: Adherence.NONE,
    Scenario.POSTERIOR_HIP: Adherence.HIGH,
}
# Days before today each special patient started; 0 = no programme yet.
_SPECIAL_START = {
    Scenario.READY: 42,
    Scenario.PAIN: 42,
    Scenario.NO_LOGS: WEEKS * 7,
    Scenario.CLEARANCE_LAPSED: WEEKS * 7,
    Scenario.RESTRICTED: WEEKS * 7,
    Scenario.REVIEW_DUE: 49,
    Scenario.REGRESSED: WEEKS * 7,
    Scenario.CLEARANCE_MISSING: 0,
    Scenario.NOT_CLEARED: 0,
    Scenario.POSTERIOR_HIP: 35,
}


def username_for(first_name: str, last_name: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", f"{first_name}.{last_name}".lower())


@dataclass(frozen=True)
class PatientPlan:
    clinic: ClinicSpec
    index: int
    record_number: str
    first_name: str
    last_name: str
    username: str
    scenario: Scenario
    adherence: Adherence
    affected_side: str
    start_offset_days: int

    @property
    def story(self) -> str:
        return self.scenario.story or self.adherence.label


def patient_plans(patients_per_clinic: int) -> list[PatientPlan]:
    """Who the demo patients are: fixed names and stories, the same on every run."""
    return [_plan(spec, i) for spec in CLINICS for i in range(patients_per_clinic)]


def _plan(spec: ClinicSpec, i: int) -> PatientPlan:
    first, last, username = _names(spec, i)
    scenario = spec.scenarios[i] if i < len(spec.scenarios) else Scenario.STEADY
    if scenario in (Scenario.STEADY, Scenario.REGRESSED):
        adherence = _ADHERENCE_CYCLE[i % len(_ADHERENCE_CYCLE)]
    else:
        adherence = _SPECIAL_ADHERENCE[scenario]
    if scenario == Scenario.STEADY:
        start = _START_OFFSET_CYCLE[i % len(_START_OFFSET_CYCLE)]
    else:
        start = _SPECIAL_START[scenario]
    affected = _AFFECTED_CYCLE[(i + len(spec.slug)) % len(_AFFECTED_CYCLE)]
    if scenario.needs_clearance and affected == AffectedSide.BOTH:
        affected = AffectedSide.LEFT
    return PatientPlan(
        clinic=spec,
        index=i,
        record_number=f"{spec.record_prefix}-{i + 1:05d}",
        first_name=first,
        last_name=last,
        username=username,
        scenario=scenario,
        adherence=adherence,
        affected_side=affected,
        start_offset_days=start,
    )


def _names(spec: ClinicSpec, i: int) -> tuple[str, str, str]:
    """First name, last name and username of the clinic's patient number `i` (from 0)."""
    names = spec.patient_names
    if i < len(names):
        first, last = names[i]
        return first, last, username_for(first, last)
    # Beyond the fixed list: recombine the names; the number keeps usernames unique.
    first, last = names[i % len(names)][0], names[(i // len(names) + i) % len(names)][1]
    return first, last, f"{username_for(first, last)}{i + 1}"


def demo_patients(plans: Sequence[PatientPlan]) -> Q:
    """A filter for the demo patients of these plans (on Patient)."""
    query = Q(pk__in=[])
    for spec in CLINICS:
        records = [p.record_number for p in plans if p.clinic.slug == spec.slug]
        query |= Q(clinic__slug=spec.slug, record_number__in=records)
    return query


def set_count(plans: Sequence[PatientPlan]) -> int:
    return SetLog.objects.filter(patient__in=Patient.objects.filter(demo_patients(plans))).count()
