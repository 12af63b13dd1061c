"""The demo's two clinics: their names, time zones, care teams, patients' names, and which
stories their first patients tell."""

from __future__ import annotations

from dataclasses import dataclass

from clinic.data.demo.stories import Scenario


@dataclass(frozen=True)
class ClinicSpec:
    slug: str
    name: str
    timezone: str
    record_prefix: str
    therapists: tuple[tuple[str, str], ...]
    staff: tuple[str, str]
    patient_names: tuple[tuple[str, str], ...]
    # Scenarios of the clinic's first patients, in order; every further patient is STEADY. The
    # alerts a demo must show come first, so that even `--patients 5` shows each of them.
    scenarios: tuple[Scenario, ...]


CLINICS: tuple[ClinicSpec, ...] = (
    ClinicSpec(
        slug="riverside",
        name="Riverside Physiotherapy",
        timezone="Europe/London",
        record_prefix="RIV",
        therapists=(("Hannah", "Whitaker"), ("Tom", "Ellison"), ("Nadia", "Qureshi")),
        staff=("Jo", "Partridge"),
        patient_names=(
            ("Amelia", "Clarke"),
            ("Oliver", "Bennett"),
            ("Priya", "Patel"),
            ("George", "Whitfield"),
            ("Fatima", "Rahman"),
            ("Harry", "Doyle"),
            ("Chloe", "Evans"),
            ("Samuel", "Adeyemi"),
            ("Grace", "Thornton"),
            ("Arjun", "Mehta"),
            ("Isla", "Morgan"),
            ("Thomas", "Hughes"),
            ("Zara", "Ahmed"),
            ("William", "Foster"),
            ("Ruby", "Kowalski"),
            ("Daniel", "Okafor"),
            ("Evie", "Marshall"),
            ("Jack", "Robinson"),
            ("Sophie", "Turner"),
            ("Noah", "Fletcher"),
        ),
        scenarios=(
            Scenario.READY,
            Scenario.PAIN,
            Scenario.CLEARANCE_MISSING,
            Scenario.CLEARANCE_LAPSED,
            Scenario.NO_LOGS,
            Scenario.REGRESSED,
            Scenario.RESTRICTED,
            Scenario.REGRESSED,
            Scenario.POSTERIOR_HIP,
        ),
    ),
    ClinicSpec(
        slug="lakeside",
        name="Lakeside Rehab",
        timezone="America/Chicago",
        record_prefix="LAK",
        therapists=(("Rosa", "Delgado"), ("Ben", "Kowalczyk")),
        staff=("Dana", "Price"),
        patient_names=(
            ("Emily", "Johnson"),
            ("Marcus", "Williams"),
            ("Sofia", "Hernandez"),
            ("Ethan", "Lindgren"),
            ("Aaliyah", "Brooks"),
            ("Kevin", "Nguyen"),
            ("Olivia", "Martinez"),
            ("Tyler", "Jackson"),
            ("Hannah", "Schmidt"),
            ("Jamal", "Carter"),
            ("Megan", "Sullivan"),
            ("Luis", "Ramirez"),
            ("Rachel", "Goldberg"),
            ("Andre", "Washington"),
            ("Katie", "Novak"),
            ("Brandon", "Lee"),
            ("Natalie", "Rossi"),
            ("Derek", "Olson"),
            ("Jasmine", "Reddy"),
            ("Ryan", "Murphy"),
        ),
        scenarios=(
            Scenario.READY,
            Scenario.PAIN,
            Scenario.NO_LOGS,
            Scenario.REVIEW_DUE,
            Scenario.REGRESSED,
            Scenario.NOT_CLEARED,
            Scenario.REGRESSED,
        ),
    ),
)
