"""The floor for the clinic report's work: one hand-written SQL statement, no ORM, no page.

It computes the same rows as `clinic.clinic_report` for one clinic and range (docs/reports.md
defines each figure), at the same grain:

- patients per stage and side at the start and at the end of the range;
- stage changes in the range by reason;
- days at a stage before progressing: count, shortest and longest per stage (the report's
  quartiles read the same rows; SQLite has no percentile function, so the floor stops at these);
- the readiness backlog: active prescriptions of active patients whose first qualifying set
  (reps ≥ threshold, pain ≤ ceiling, not voided) was performed before the backlog cutoff;
- pain: valid sets in the range, those above 5/10, the patients who had them, and the active
  sides with a set above 5/10 in the last 7 days (open pain alerts);
- per patient and side prescribed within the range: sessions (distinct clinic days with a valid
  set), the prescribed time and the target-weighted time;
- every monitoring window the report lists: for each patient whose monitoring started before the
  range ends and who was not discharged before it starts, the 30-day windows (counted from the
  clinic day of the first prescription) from the one holding the range's first day to the one
  holding its last day (or the discharge day), with their data days, zero included, and whether
  each has ended and whether a discharge ended it;
- active patients who require clearance and have none in force today (missing, not cleared,
  lapsed) or whose clearance is due for review within 7 days: the note in effect is the one signed
  last on or before today (by signature day, then recording time, then id, as
  `patients.clearance.note_in_effect`).

It returns rows (figure, key, key, value, value, value) and leaves the presentation (tables,
charts, bands, wording, ordering) undone: what remains is the cost of reading and counting.
Days are clinic days: `AT TIME ZONE` on PostgreSQL, on SQLite the same function Django's `TruncDate`
registers (`django_datetime_cast_date`), computed once per set (the sets' CTE is MATERIALIZED).
That function is Python, called once per set: on SQLite this "floor" pays the same per-set cost as
the report and is not a lower bound of its work (docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from clinic.clinic_report import Scope
from exercises.adherence import WINDOW_DAYS
from exercises.models import PAIN_ALERT_ABOVE, ChangeReason
from exercises.progression import PAIN_WINDOW
from patients.clearance import REVIEW_SOON_DAYS
from patients.models import Decision

_DIALECT = {
    "postgresql": {
        "day": "CAST(({col} AT TIME ZONE %(tz)s) AS DATE)",
        "days_between": "({a} - {b})",
        "seconds": "EXTRACT(EPOCH FROM ({a} - {b}))",
    },
    "sqlite": {
        "day": "django_datetime_cast_date({col}, %(tz)s, 'UTC')",
        "days_between": "CAST(julianday({a}) - julianday({b}) AS INTEGER)",
        "seconds": "((julianday({a}) - julianday({b})) * 86400.0)",
    },
}

# WITH RECURSIVE only for `steps` (window numbers); the other CTEs are plain.
SQL = """
WITH RECURSIVE pts AS (
    SELECT id, discharged_at, requires_clearance FROM patients_patient WHERE clinic_id = %(clinic)s
), rx AS (
    -- With the patient's discharge: joining the patients again per figure made PostgreSQL loop
    -- over both CTEs (tens of milliseconds at the largest quick clinic).
    SELECT r.*, pts.discharged_at AS patient_discharged_at
    FROM exercises_prescription r JOIN pts ON pts.id = r.patient_id
), valid_sets AS MATERIALIZED (
    SELECT s.patient_id, s.side, s.pain, s.performed_at, {set_day} AS day
    FROM exercises_setlog s JOIN pts ON pts.id = s.patient_id
    WHERE s.voided_at IS NULL AND s.performed_at >= %(window_start)s AND s.performed_at < %(end)s
), sessions AS (
    SELECT patient_id, side, COUNT(DISTINCT day) AS n
    FROM valid_sets WHERE performed_at >= %(start)s
    GROUP BY patient_id, side
), exposure AS (
    SELECT patient_id, side, SUM(o) AS prescribed, SUM(o * sessions_per_week) AS weighted
    FROM (
        SELECT patient_id, side, sessions_per_week, {overlap} AS o
        FROM rx WHERE started_at < %(end)s AND (ended_at IS NULL OR ended_at > %(start)s)
    ) x
    WHERE o > 0
    GROUP BY patient_id, side
), monitored AS (
    SELECT patient_id, {first_day} AS d0, {discharge_day} AS dd
    FROM (
        SELECT patient_id, MIN(started_at) AS first_start,
            MAX(patient_discharged_at) AS discharged_at
        FROM rx GROUP BY patient_id
    ) m
    WHERE first_start < %(end)s AND (discharged_at IS NULL OR discharged_at >= %(start)s)
), spans AS (
    -- Day numbers counted from the start of monitoring: the first day of the range, the last
    -- day counted (the last day of the range, or today), the discharge day.
    SELECT patient_id, d0, {first_off} AS f_off, {until_off} AS u_off, {discharge_off} AS dd_off
    FROM monitored
), listed AS (
    SELECT patient_id, d0, u_off, dd_off,
        CASE WHEN f_off > 0 THEN f_off / {window} ELSE 0 END AS first_idx,
        (CASE WHEN dd_off IS NOT NULL AND dd_off < u_off THEN dd_off ELSE u_off END) / {window}
            AS last_idx
    FROM spans
), steps(k) AS (
    SELECT 0 UNION ALL SELECT k + 1 FROM steps WHERE k < %(max_step)s
), windows AS (
    SELECT l.patient_id, l.d0, l.u_off, l.dd_off, l.first_idx + steps.k AS idx,
        (l.first_idx + steps.k) * {window} + {window} - 1 AS last_off
    FROM listed l JOIN steps ON steps.k <= l.last_idx - l.first_idx
), data_days AS (
    SELECT d.patient_id, d.idx, COUNT(*) AS n
    FROM (
        SELECT DISTINCT v.patient_id, v.day, {days_since_first} / {window} AS idx
        FROM valid_sets v JOIN monitored m ON m.patient_id = v.patient_id
    ) d
    GROUP BY d.patient_id, d.idx
), in_effect AS (
    SELECT p.id AS patient_id, n.id AS note_id, n.decision, n.review_on
    FROM pts p LEFT JOIN patients_clearancenote n ON n.patient_id = p.id
        AND n.signed_on <= %(today)s
        AND NOT EXISTS (
            SELECT 1 FROM patients_clearancenote newer
            WHERE newer.patient_id = p.id AND newer.signed_on <= %(today)s
              AND (newer.signed_on > n.signed_on
                OR (newer.signed_on = n.signed_on AND newer.recorded_at > n.recorded_at)
                OR (newer.signed_on = n.signed_on AND newer.recorded_at = n.recorded_at
                    AND newer.id > n.id)))
    WHERE p.requires_clearance AND p.discharged_at IS NULL
), clearance_state AS (
    SELECT patient_id, note_id, CASE
        WHEN note_id IS NULL THEN 'missing'
        WHEN decision = %(not_cleared)s THEN 'not_cleared'
        WHEN review_on < %(today)s THEN 'lapsed'
        WHEN {review_in} <= %(review_soon)s THEN 'due_for_review'
        ELSE 'in_force' END AS state
    FROM in_effect
)
SELECT CAST('stage' AS TEXT) AS figure, CAST(stage_id AS BIGINT) AS k1, CAST(side AS TEXT) AS k2,
    CAST(SUM(CASE WHEN started_at <= %(start)s AND (ended_at IS NULL OR ended_at > %(start)s)
        THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS v1,
    CAST(SUM(CASE WHEN started_at <= %(end)s AND (ended_at IS NULL OR ended_at > %(end)s)
        THEN 1 ELSE 0 END) AS DOUBLE PRECISION) AS v2,
    CAST(NULL AS DOUBLE PRECISION) AS v3
FROM rx
WHERE (started_at <= %(start)s AND (ended_at IS NULL OR ended_at > %(start)s))
   OR (started_at <= %(end)s AND (ended_at IS NULL OR ended_at > %(end)s))
GROUP BY stage_id, side
UNION ALL
SELECT 'change', NULL, c.reason, COUNT(*), NULL, NULL
FROM exercises_stagechange c JOIN pts ON pts.id = c.patient_id
WHERE c.at >= %(start)s AND c.at < %(end)s
GROUP BY c.reason
UNION ALL
SELECT 'time_at_stage', r.stage_id, NULL, COUNT(*), MIN({spent}), MAX({spent})
FROM rx r
WHERE r.ended_at >= %(start)s AND r.ended_at < %(end)s AND EXISTS (
    SELECT 1 FROM exercises_stagechange c
    WHERE c.patient_id = r.patient_id AND c.side = r.side AND c.reason = %(progressed)s
      AND c.at = r.ended_at AND c.from_stage_id = r.stage_id)
GROUP BY r.stage_id
UNION ALL
SELECT 'backlog', r.id, r.side, MIN({ready_epoch}), NULL, NULL
FROM rx r
JOIN exercises_setlog s ON s.prescription_id = r.id AND s.voided_at IS NULL
    AND s.reps >= COALESCE(r.progress_at_reps, %(reps)s)
    AND s.pain <= COALESCE(r.pain_ceiling, %(ceiling)s)
WHERE r.ended_at IS NULL AND r.patient_discharged_at IS NULL
GROUP BY r.id, r.side
HAVING MIN(s.performed_at) < %(cutoff)s
UNION ALL
SELECT 'pain', NULL, NULL, COUNT(*),
    SUM(CASE WHEN pain > %(alert)s THEN 1 ELSE 0 END),
    COUNT(DISTINCT CASE WHEN pain > %(alert)s THEN patient_id END)
FROM valid_sets WHERE performed_at >= %(start)s
UNION ALL
SELECT 'pain_alert', r.id, r.side, MAX(s.pain), NULL, NULL
FROM rx r
JOIN exercises_setlog s ON s.patient_id = r.patient_id AND s.side = r.side
    AND (s.prescription_id = r.id OR s.logged_at >= r.started_at)
    AND s.voided_at IS NULL AND s.pain > %(alert)s AND s.performed_at >= %(pain_since)s
WHERE r.ended_at IS NULL AND r.patient_discharged_at IS NULL
GROUP BY r.id, r.side
UNION ALL
SELECT 'sessions', e.patient_id, e.side, COALESCE(s.n, 0), e.prescribed, e.weighted
FROM exposure e LEFT JOIN sessions s ON s.patient_id = e.patient_id AND s.side = e.side
UNION ALL
SELECT 'window', w.patient_id, CAST(w.idx AS TEXT), COALESCE(d.n, 0),
    CASE WHEN w.last_off <= w.u_off
        OR (w.dd_off IS NOT NULL AND w.dd_off < w.last_off AND w.dd_off <= w.u_off)
        THEN 1 ELSE 0 END,
    CASE WHEN w.dd_off IS NOT NULL AND w.dd_off < w.last_off AND w.dd_off <= w.u_off
        THEN 1 ELSE 0 END
FROM windows w LEFT JOIN data_days d ON d.patient_id = w.patient_id AND d.idx = w.idx
UNION ALL
SELECT 'clearance', patient_id, state, note_id, NULL, NULL
FROM clearance_state WHERE state <> 'in_force'
"""


def _sql(vendor: str) -> str:
    d = _DIALECT[vendor]
    overlap = d["seconds"].format(
        a="CASE WHEN ended_at IS NULL OR ended_at > %(end)s THEN %(end)s ELSE ended_at END",
        b="CASE WHEN started_at < %(start)s THEN %(start)s ELSE started_at END",
    )
    return SQL.format(
        set_day=d["day"].format(col="s.performed_at"),
        first_day=d["day"].format(col="first_start"),
        discharge_day=d["day"].format(col="discharged_at"),
        first_off=d["days_between"].format(a="%(first)s", b="d0"),
        until_off=d["days_between"].format(a="%(until)s", b="d0"),
        discharge_off=d["days_between"].format(a="dd", b="d0"),
        spent=d["seconds"].format(a="r.ended_at", b="r.started_at"),
        ready_epoch=d["seconds"].format(a="s.performed_at", b="%(epoch)s"),
        review_in=d["days_between"].format(a="review_on", b="%(today)s"),
        overlap=overlap,
        days_since_first=d["days_between"].format(a="v.day", b="m.d0"),
        window=WINDOW_DAYS,
    )


def report_floor(scope: Scope) -> list[tuple[Any, ...]]:
    """Run the floor statement for the clinic report's scope (clinic-wide; no therapist filter)."""
    vendor = connection.vendor
    cutoff = dt.datetime.combine(
        scope.today - dt.timedelta(days=scope.ready_days), dt.time.min, tzinfo=scope.clinic.tzinfo
    )
    moments = {
        "start": scope.start,
        "end": scope.end,
        "window_start": scope.start - dt.timedelta(days=WINDOW_DAYS - 1),
        "cutoff": cutoff,
        "pain_since": scope.now - PAIN_WINDOW,
        "epoch": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    }
    days = {"first": scope.first, "until": min(scope.last, scope.today), "today": scope.today}
    params: dict[str, Any] = {
        "clinic": scope.clinic.pk,
        "tz": scope.clinic.timezone,
        "reps": scope.clinic.progress_at_reps,
        "ceiling": scope.clinic.pain_ceiling,
        "alert": PAIN_ALERT_ABOVE,
        "progressed": ChangeReason.PROGRESSED.value,
        "not_cleared": Decision.NOT_CLEARED.value,
        "review_soon": REVIEW_SOON_DAYS,
        # Window numbers a patient can have in the range: its days span at most this many + 1.
        "max_step": (scope.last - scope.first).days // WINDOW_DAYS + 1,
    }
    for name, moment in moments.items():
        params[name] = (
            connection.ops.adapt_datetimefield_value(moment) if vendor == "sqlite" else moment
        )
    for name, day in days.items():
        params[name] = day.isoformat() if vendor == "sqlite" else day
    with connection.cursor() as cursor:
        cursor.execute(_sql(vendor), params)
        return cursor.fetchall()
