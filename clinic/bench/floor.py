"""The floor for the clinic report's work: one hand-written SQL query, no ORM, no page.

It reads the same rows and computes the same aggregates as `clinic.clinic_report` for one clinic
and range (see docs/reports.md for the figures), at the same grain:

- patients per stage and side at the start and at the end of the range;
- stage changes in the range by reason;
- days at a stage before progressing: count, shortest, longest and mean per stage (the report's
  quartiles read the same rows; SQLite has no percentile function, so the floor stops at these);
- the readiness backlog: active prescriptions of active patients whose first qualifying set
  (reps ≥ threshold, pain ≤ ceiling, not voided) is older than the backlog cutoff;
- pain: valid sets in the range, those above 5/10, the patients who had them, and the active
  sides with a set above 5/10 in the last 7 days (open pain alerts);
- sessions per patient and side in the range (distinct clinic days), and each side's prescribed
  time and target-weighted time within the range;
- data days per patient and 30-day monitoring window (counted from the clinic day of the first
  prescription), for windows overlapping the range;
- active patients who require clearance, with their newest note's decision and review date.

It returns rows (figure, key, key, value, value, value) and leaves the presentation (tables,
charts, bands, the clearance wording) undone: what remains is the cost of reading and counting.
Days are clinic days: `AT TIME ZONE` on PostgreSQL, on SQLite the same function Django's `TruncDate`
registers (`django_datetime_cast_date`), computed once per set (the sets' CTE is MATERIALIZED).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from clinic.clinic_report import Scope
from exercises.adherence import WINDOW_DAYS
from exercises.models import PAIN_ALERT_ABOVE
from exercises.progression import PAIN_WINDOW

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

SQL = """
WITH pts AS (
    SELECT id, discharged_at, requires_clearance FROM patients_patient WHERE clinic_id = %(clinic)s
), rx AS (
    SELECT r.* FROM exercises_prescription r JOIN pts ON pts.id = r.patient_id
), valid_sets AS MATERIALIZED (
    SELECT s.patient_id, s.side, s.pain, s.performed_at, {set_day} AS day
    FROM exercises_setlog s JOIN pts ON pts.id = s.patient_id
    WHERE s.voided_at IS NULL AND s.performed_at >= %(window_start)s AND s.performed_at < %(end)s
), first_day AS (
    SELECT patient_id, {first_day} AS d0
    FROM (SELECT patient_id, MIN(started_at) AS first_start FROM rx GROUP BY patient_id) f
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
    WHERE c.patient_id = r.patient_id AND c.side = r.side AND c.reason = 'progressed'
      AND c.at = r.ended_at AND c.from_stage_id = r.stage_id)
GROUP BY r.stage_id
UNION ALL
SELECT 'backlog', r.id, r.side, MIN({ready_epoch}), NULL, NULL
FROM rx r JOIN pts p ON p.id = r.patient_id
JOIN exercises_setlog s ON s.prescription_id = r.id AND s.voided_at IS NULL
    AND s.reps >= COALESCE(r.progress_at_reps, %(reps)s)
    AND s.pain <= COALESCE(r.pain_ceiling, %(ceiling)s)
WHERE r.ended_at IS NULL AND p.discharged_at IS NULL
GROUP BY r.id, r.side
HAVING MIN(s.performed_at) < %(cutoff)s
UNION ALL
SELECT 'pain', NULL, NULL, COUNT(*),
    SUM(CASE WHEN pain > %(alert)s THEN 1 ELSE 0 END),
    COUNT(DISTINCT CASE WHEN pain > %(alert)s THEN patient_id END)
FROM valid_sets WHERE performed_at >= %(start)s
UNION ALL
SELECT 'pain_alert', r.id, r.side, MAX(s.pain), NULL, NULL
FROM rx r JOIN pts p ON p.id = r.patient_id
JOIN exercises_setlog s ON s.patient_id = r.patient_id AND s.side = r.side
    AND (s.prescription_id = r.id OR s.logged_at >= r.started_at)
    AND s.voided_at IS NULL AND s.pain > %(alert)s AND s.performed_at >= %(pain_since)s
WHERE r.ended_at IS NULL AND p.discharged_at IS NULL
GROUP BY r.id, r.side
UNION ALL
SELECT 'sessions', patient_id, side, COUNT(DISTINCT day), NULL, NULL
FROM valid_sets WHERE performed_at >= %(start)s
GROUP BY patient_id, side
UNION ALL
SELECT 'exposure', patient_id, side, SUM({overlap}), SUM({overlap} * sessions_per_week), NULL
FROM rx
WHERE started_at < %(end)s AND (ended_at IS NULL OR ended_at > %(start)s)
GROUP BY patient_id, side
UNION ALL
SELECT 'window', w.patient_id, CAST(w.idx AS TEXT), COUNT(DISTINCT w.day), NULL, NULL
FROM (
    SELECT v.patient_id, v.day, {days_since_first} / {window} AS idx
    FROM valid_sets v JOIN first_day f ON f.patient_id = v.patient_id
) w
GROUP BY w.patient_id, w.idx
UNION ALL
SELECT 'clearance', p.id, MAX(n.decision), MAX({review_epoch}), NULL, NULL
FROM pts p LEFT JOIN patients_clearancenote n ON n.patient_id = p.id
    AND NOT EXISTS (
        SELECT 1 FROM patients_clearancenote newer
        WHERE newer.patient_id = p.id AND (newer.signed_on > n.signed_on
            OR (newer.signed_on = n.signed_on AND newer.id > n.id)))
WHERE p.requires_clearance AND p.discharged_at IS NULL
GROUP BY p.id
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
        spent=d["seconds"].format(a="r.ended_at", b="r.started_at"),
        ready_epoch=d["seconds"].format(a="s.performed_at", b="%(epoch)s"),
        review_epoch=d["days_between"].format(a="n.review_on", b="%(epoch_day)s"),
        overlap=overlap,
        days_since_first=d["days_between"].format(a="v.day", b="f.d0"),
        window=WINDOW_DAYS,
    )


def report_floor(scope: Scope) -> list[tuple[Any, ...]]:
    """Run the floor query for the clinic report's scope (clinic-wide; no therapist filter)."""
    vendor = connection.vendor
    cutoff = dt.datetime.combine(
        scope.today - dt.timedelta(days=scope.ready_days), dt.time.min, tzinfo=scope.clinic.tzinfo
    )
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    moments = {
        "start": scope.start,
        "end": scope.end,
        "window_start": scope.start - dt.timedelta(days=WINDOW_DAYS - 1),
        "cutoff": cutoff,
        "pain_since": scope.now - PAIN_WINDOW,
        "epoch": epoch,
    }
    params: dict[str, Any] = {
        "clinic": scope.clinic.pk,
        "tz": scope.clinic.timezone,
        "reps": scope.clinic.progress_at_reps,
        "ceiling": scope.clinic.pain_ceiling,
        "alert": PAIN_ALERT_ABOVE,
        "epoch_day": dt.date(1970, 1, 1),
    }
    for name, moment in moments.items():
        params[name] = (
            connection.ops.adapt_datetimefield_value(moment) if vendor == "sqlite" else moment
        )
    if vendor == "sqlite":
        params["epoch_day"] = params["epoch_day"].isoformat()
    with connection.cursor() as cursor:
        cursor.execute(_sql(vendor), params)
        return cursor.fetchall()
