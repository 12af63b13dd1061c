"""The floor for the clinic report's work: one hand-written SQL statement, no ORM, no page.

It computes the same rows as `clinic.reports.clinic_figures` for one clinic and range (docs/reports.md
defines each figure), at the same grain, with the thresholds in force: a prescription's own
(`progress_at_reps`, `pain_ceiling`, `pain_alert_above`), else the clinic's, read from the clinic's
row like every other setting (`pain_lookback_days`, `review_soon_days`):

- patients per stage and side at the start and at the end of the range;
- stage changes in the range by reason;
- days at a stage before progressing: count, shortest and longest per stage (the report's
  quartiles read the same rows; SQLite has no percentile function, so the floor stops at these);
- the readiness backlog: active prescriptions of active patients ready since before the backlog
  cutoff, "ready since" being the first qualifying set (valid, reps ≥ threshold, pain ≤ ceiling)
  performed after the last painful set on the prescription (valid, pain above its alert
  threshold), as `PrescriptionQuerySet.with_ready_since`;
- pain: valid sets in the range, those above the alert threshold in force for each (its
  prescription's, else the clinic's), the patients who had them;
- open pain alerts, per patient and side of the active patients (`exercises.progression`): the
  valid painful sets that reached the clinic (`logged_at`) after the side's latest pain review, or
  with no review, and were performed within the clinic's look-back of reaching it; the highest
  pain, how many, and when the first reached the clinic;
- per patient and side prescribed within the range: sessions (distinct clinic days with a valid
  set), the prescribed time and the target-weighted time;
- every monitoring window the report lists (`exercises.adherence.monitoring_windows`): for each
  patient whose monitoring started before the range ends and who was not discharged before it
  starts, the windows counted from the clinic day of the first prescription, from the one
  holding the range's first day to the one holding the last day counted (the range's last day or
  today, or the discharge day if earlier), with their data days up to that day, zero included, and
  their status: complete, discharged (monitoring ended within it), in progress (it ends today) or
  cut (by the end of a range in the past);
- active patients who require clearance and have none in force today (missing — no note, or a
  "no further clearance needed" note in effect while clearance is required again —, not cleared,
  lapsed) or whose clearance is due for review within the clinic's `review_soon_days`: the note
  in effect is the one signed last on or before today (by signature day, then recording time,
  then id, as `patients.clearance.note_in_effect`).

It returns rows (figure, key, key, value, value, value) and leaves the presentation (tables,
charts, bands, wording, ordering) undone: what remains is the cost of reading and counting.
`clinic.bench.agreement` checks that the rows are the report's.
Days are clinic days: `AT TIME ZONE` on PostgreSQL, on SQLite the same function Django's `TruncDate`
registers (`django_datetime_cast_date`), computed once per set (the sets' CTE is MATERIALIZED).
That function is Python, called once per set: on SQLite this "floor" pays the same per-set cost as
the report and is not a lower bound of its work (docs/performance.md). The pain look-back on
SQLite is Django's own `django_format_dtdelta`, called for the painful sets only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from clinic.reports.clinic_figures import Scope
from exercises.adherence import WindowStatus
from exercises.models import ChangeReason
from patients.models import Decision
from patients.thresholds import WINDOW_DAYS

_DIALECT = {
    "postgresql": {
        "day": "CAST(({col} AT TIME ZONE %(tz)s) AS DATE)",
        "days_between": "({a} - {b})",
        "seconds": "EXTRACT(EPOCH FROM ({a} - {b}))",
        "minus_days": "({col} - {days} * INTERVAL '1 day')",
    },
    "sqlite": {
        "day": "django_datetime_cast_date({col}, %(tz)s, 'UTC')",
        "days_between": "CAST(julianday({a}) - julianday({b}) AS INTEGER)",
        "seconds": "((julianday({a}) - julianday({b})) * 86400.0)",
        # What the ORM writes for `F(...) - timedelta` on SQLite: the same text comparison.
        "minus_days": "django_format_dtdelta('-', {col}, {days} * 86400000000)",
    },
}

# WITH RECURSIVE only for `steps` (window numbers); the other CTEs are plain.
SQL = """
WITH RECURSIVE clinic AS (
    SELECT progress_at_reps, pain_ceiling, pain_alert_above, pain_lookback_days,
        review_soon_days
    FROM patients_clinic WHERE id = %(clinic)s
), pts AS (
    SELECT id, discharged_at, requires_clearance FROM patients_patient WHERE clinic_id = %(clinic)s
), rx AS (
    -- With the patient's discharge (joining the patients again per figure made PostgreSQL loop
    -- over both CTEs) and the thresholds in force: the prescription's own, else the clinic's.
    SELECT r.id, r.patient_id, r.side, r.stage_id, r.started_at, r.ended_at,
        r.sessions_per_week, pts.discharged_at AS patient_discharged_at,
        COALESCE(r.progress_at_reps, c.progress_at_reps) AS reps_threshold,
        -- The ceiling is never above the alert threshold (CASE: SQLite has no LEAST).
        CASE WHEN COALESCE(r.pain_ceiling, c.pain_ceiling)
                  > COALESCE(r.pain_alert_above, c.pain_alert_above)
             THEN COALESCE(r.pain_alert_above, c.pain_alert_above)
             ELSE COALESCE(r.pain_ceiling, c.pain_ceiling) END AS pain_threshold,
        COALESCE(r.pain_alert_above, c.pain_alert_above) AS alert_threshold
    FROM exercises_prescription r JOIN pts ON pts.id = r.patient_id CROSS JOIN clinic c
), valid_sets AS MATERIALIZED (
    SELECT s.patient_id, s.side, s.performed_at, {set_day} AS day
    FROM exercises_setlog s JOIN pts ON pts.id = s.patient_id
    WHERE s.voided_at IS NULL AND s.performed_at >= %(window_start)s AND s.performed_at < %(end)s
), painful AS MATERIALIZED (
    -- Every valid set above the alert threshold in force for it, at any time: the pain figure,
    -- the open alerts and the backlog read them. The first pain test (the lowest threshold in
    -- force at the clinic) drops nearly every set before the join to its prescription.
    SELECT s.patient_id, s.side, s.prescription_id, s.pain, s.performed_at, s.logged_at,
        r.patient_discharged_at
    FROM pts JOIN exercises_setlog s ON s.patient_id = pts.id
    JOIN rx r ON r.id = s.prescription_id
    WHERE s.voided_at IS NULL AND s.pain > (SELECT MIN(alert_threshold) FROM rx)
      AND s.pain > r.alert_threshold
), last_painful AS (
    SELECT prescription_id, MAX(performed_at) AS at FROM painful GROUP BY prescription_id
), reviewed AS (
    SELECT v.patient_id, v.side, MAX(v.at) AS at
    FROM exercises_painreview v JOIN pts ON pts.id = v.patient_id
    GROUP BY v.patient_id, v.side
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
    -- day counted (the last day of the range, or today), today, the discharge day.
    SELECT patient_id, d0, {first_off} AS f_off, {until_off} AS u_off, {today_off} AS t_off,
        {discharge_off} AS dd_off
    FROM monitored
), stops AS (
    -- Monitoring stops on the last day counted, or at discharge if that comes first.
    SELECT patient_id, d0, t_off, dd_off,
        CASE WHEN f_off > 0 THEN f_off / {window} ELSE 0 END AS first_idx,
        CASE WHEN dd_off IS NOT NULL AND dd_off < u_off THEN dd_off ELSE u_off END AS stop_off
    FROM spans
), steps(k) AS (
    SELECT 0 UNION ALL SELECT k + 1 FROM steps WHERE k < %(max_step)s
), windows AS (
    SELECT l.patient_id, l.t_off, l.dd_off, l.first_idx + steps.k AS idx,
        (l.first_idx + steps.k) * {window} + {window} - 1 AS last_off,
        CASE WHEN (l.first_idx + steps.k) * {window} + {window} - 1 < l.stop_off
            THEN (l.first_idx + steps.k) * {window} + {window} - 1 ELSE l.stop_off END AS end_off
    FROM stops l JOIN steps ON steps.k <= l.stop_off / {window} - l.first_idx
), data_days AS (
    SELECT d.patient_id, d.idx, COUNT(*) AS n
    FROM (
        SELECT DISTINCT v.patient_id, v.day, {days_since_first} / {window} AS idx
        FROM valid_sets v JOIN stops m ON m.patient_id = v.patient_id
        WHERE {days_since_first} BETWEEN 0 AND m.stop_off
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
    SELECT e.patient_id, e.note_id, CASE
        WHEN e.note_id IS NULL OR e.decision = %(not_required)s THEN 'missing'
        WHEN e.decision NOT IN (%(cleared)s, %(restricted)s) THEN 'not_cleared'
        WHEN e.review_on < %(today)s THEN 'lapsed'
        WHEN {review_in} <= c.review_soon_days THEN 'due_for_review'
        ELSE 'in_force' END AS state
    FROM in_effect e CROSS JOIN clinic c
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
LEFT JOIN last_painful lp ON lp.prescription_id = r.id
JOIN exercises_setlog s ON s.prescription_id = r.id AND s.voided_at IS NULL
    AND s.reps >= r.reps_threshold AND s.pain <= r.pain_threshold
    AND (lp.at IS NULL OR s.performed_at > lp.at)
WHERE r.ended_at IS NULL AND r.patient_discharged_at IS NULL
GROUP BY r.id, r.side
HAVING MIN(s.performed_at) < %(cutoff)s
UNION ALL
SELECT 'pain', NULL, NULL,
    (SELECT COUNT(*) FROM valid_sets WHERE performed_at >= %(start)s),
    COUNT(*), COUNT(DISTINCT patient_id)
FROM painful WHERE performed_at >= %(start)s AND performed_at < %(end)s
UNION ALL
SELECT 'pain_alert', p.patient_id, p.side, MAX(p.pain), COUNT(*), MIN({opened_epoch})
FROM painful p CROSS JOIN clinic c
LEFT JOIN reviewed v ON v.patient_id = p.patient_id AND v.side = p.side
WHERE p.patient_discharged_at IS NULL
  AND p.performed_at >= {lookback_start}
  AND (v.at IS NULL OR p.logged_at > v.at)
GROUP BY p.patient_id, p.side
UNION ALL
SELECT 'sessions', e.patient_id, e.side, COALESCE(s.n, 0), e.prescribed, e.weighted
FROM exposure e LEFT JOIN sessions s ON s.patient_id = e.patient_id AND s.side = e.side
UNION ALL
SELECT 'window', w.patient_id, CASE
        WHEN w.end_off = w.last_off THEN %(complete)s
        WHEN w.dd_off IS NOT NULL AND w.end_off = w.dd_off THEN %(discharged)s
        WHEN w.end_off = w.t_off THEN %(in_progress)s
        ELSE %(cut)s END,
    COALESCE(d.n, 0), w.idx, NULL
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
        today_off=d["days_between"].format(a="%(today)s", b="d0"),
        discharge_off=d["days_between"].format(a="dd", b="d0"),
        spent=d["seconds"].format(a="r.ended_at", b="r.started_at"),
        ready_epoch=d["seconds"].format(a="s.performed_at", b="%(epoch)s"),
        opened_epoch=d["seconds"].format(a="p.logged_at", b="%(epoch)s"),
        lookback_start=d["minus_days"].format(col="p.logged_at", days="c.pain_lookback_days"),
        review_in=d["days_between"].format(a="e.review_on", b="%(today)s"),
        overlap=overlap,
        days_since_first=d["days_between"].format(a="v.day", b="m.d0"),
        window=WINDOW_DAYS,
    )


def report_floor(scope: Scope) -> list[tuple[Any, ...]]:
    """Run the floor statement for the clinic report's scope (clinic-wide; no therapist filter).

    Rows, by figure (k1, k2: the keys; v1, v2, v3: the values; times in seconds):

    - stage: stage id, side; patients at the start, at the end
    - change: -, reason; count
    - time_at_stage: stage id, -; progressions, shortest, longest
    - backlog: prescription id, side; ready since (since 1970)
    - pain: -, -; valid sets, painful sets, patients with one
    - pain_alert: patient id, side; highest pain, painful sets, opened (since 1970)
    - sessions: patient id, side; sessions, prescribed time, time × sessions per week
    - window: patient id, status; data days, window index (0 = the first window)
    - clearance: patient id, state; the note in effect (none when missing)
    """
    vendor = connection.vendor
    cutoff = dt.datetime.combine(
        scope.today - dt.timedelta(days=scope.ready_days), dt.time.min, tzinfo=scope.clinic.tzinfo
    )
    moments = {
        "start": scope.start,
        "end": scope.end,
        "window_start": scope.start - dt.timedelta(days=WINDOW_DAYS - 1),
        "cutoff": cutoff,
        "epoch": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    }
    days = {"first": scope.first, "until": min(scope.last, scope.today), "today": scope.today}
    params: dict[str, Any] = {
        "clinic": scope.clinic.pk,
        "tz": scope.clinic.timezone,
        "progressed": ChangeReason.PROGRESSED.value,
        "cleared": Decision.CLEARED.value,
        "restricted": Decision.RESTRICTED.value,
        "not_required": Decision.NOT_REQUIRED.value,
        "complete": WindowStatus.COMPLETE.value,
        "discharged": WindowStatus.DISCHARGED.value,
        "in_progress": WindowStatus.IN_PROGRESS.value,
        "cut": WindowStatus.CUT.value,
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
