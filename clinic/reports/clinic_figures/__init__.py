"""The figures of the clinic report (`/reports/`): progression, readiness, pain, adherence and
clearance for one clinic, a date range and optionally one therapist's caseload.

Every figure is defined in one sentence in docs/reports.md; the definitions there and the code here
must change together. The database does the counting: each figure is one grouped query (distinct
calendar days, counts by stage and side, the ranks that give medians), so the number of queries is
fixed whatever the number of patients or sets, and nothing loads every set into Python. What comes
back is one row per group (stage, side, patient window), never one per set.

One module per section of docs/reports.md (`progression`, `readiness`, `pain`, `adherence`,
`clearance`), one function per figure, and the `Scope` they share (`scope`: whose figures, over which
days, in the clinic's calendar). This package names them all: `clinic_figures.pain(scope)`.
"""

from clinic.reports.clinic_figures.adherence import (
    MonitoringWindow,
    SideSessions,
    monitoring_windows,
    sessions_per_week,
)
from clinic.reports.clinic_figures.clearance import ClearanceFigures, clearance
from clinic.reports.clinic_figures.pain import OpenPainAlert, PainFigures, pain
from clinic.reports.clinic_figures.progression import (
    QUARTILES,
    StageCount,
    StageTime,
    changes_by_reason,
    stage_distribution,
    time_at_stage,
)
from clinic.reports.clinic_figures.readiness import Waiting, readiness_backlog
from clinic.reports.clinic_figures.scope import DEFAULT_DAYS, DEFAULT_READY_DAYS, Scope

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_READY_DAYS",
    "QUARTILES",
    "ClearanceFigures",
    "MonitoringWindow",
    "OpenPainAlert",
    "PainFigures",
    "Scope",
    "SideSessions",
    "StageCount",
    "StageTime",
    "Waiting",
    "changes_by_reason",
    "clearance",
    "monitoring_windows",
    "pain",
    "readiness_backlog",
    "sessions_per_week",
    "stage_distribution",
    "time_at_stage",
]
