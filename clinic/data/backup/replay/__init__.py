"""The import's replay check: the imported clinical rows must pass the rules they were written by.

`import_clinic` is a way into the database like the pages and the API, so what it writes must
satisfy the same rules. The services check a prescription, a stage change or a set once, when it
is written; an import writes years of them at once. So, after every row of the file is inserted
and before the import's transaction commits, this module replays those checks on the imported
rows, each as the rules stood when the row was written:

- **What the app knew at a moment t.** The patient's clearance requirement at t is
  `requires_clearance` of the patient's latest history row dated at or before t (the earliest
  row's, when none is that early; the live row's, when the patient has no history); the clearance
  notes the app knew at t are those recorded at or before t.
- **Prescriptions.** One started by a "start" or "progressed" stage change (or by none) must pass
  the clearance gate (`patients.clearance.clearance_problem`) for its stage and side on the clinic
  day it started, as the requirement and the notes stood then. One started by "regressed" is not
  gated: the service does not gate a regress (less load).
- **Stage changes** have the shape the services give them: the patient and side of their
  prescription; a start or a step goes to the prescription's stage at the moment it started, a
  step up comes from the stage below it on the ladder and a step down from the stage above it
  (`exercises.services.previous_stage` / `next_stage`), and a step ends a prescription of the
  same side at the stage it comes from at that same moment; a stop leaves the prescription's stage
  at the moment it ended. A prescription is started by one stage change at most, and stopped by
  one at most.
- **Sets** (voided ones too, which were valid when logged): the patient, stage and side of their
  prescription; performed while it was active (from its start, before its end); performed no more
  than `MAX_LOG_AGE` before and `FUTURE_TOLERANCE` after the moment they were logged
  (`patients.thresholds`, as `exercises.services.set_log`); not logged after the patient's
  discharge; and the clearance gate passes for the prescription's stage and side on the set's
  clinic day, as the requirement and the notes stood when it was logged.
- **The clearance requirement** ends only with a "no further clearance needed" note: every time a
  patient's history turns it off, one more such note has been recorded by then.
- **Clearance notes** pass `full_clean()`: field validators, `ClearanceNote.clean()` and the
  model's constraints. (Ranges and shapes the database enforces, e.g. a set's reps or a stage
  change's missing "from", were already enforced when the rows went in.)

It reads in bulk: the clinic's patients, their history and their clearance notes, its
prescriptions and the ladder are held in memory (thousands of rows); stage changes and sets are
streamed (`values_list`, `iterator`), sets ordered by patient so that the gate's answers can be
cached per patient and dropped when the next patient begins. A clinic with a million sets costs
one pass over them.

The modules: `check` runs the passes in order and is what the import calls (`replay_refusals`);
`state` holds what they share (the clinic's rows in memory, the refusals, how a row is named);
`timeline` is one patient as the app saw them at any moment; `clearance`, `stage_changes` and
`sets` are the passes.
"""
