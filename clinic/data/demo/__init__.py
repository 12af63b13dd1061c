"""Demo data (`manage.py seed_demo`): two clinics, their care teams and ~40 patients with eight weeks
of history.

Every clinical write goes through the services (`patients.services`, `exercises.services`) with
explicit times, so eight weeks are replayed day by day through exactly the rules live data meets:
the clearance gate, the logging window, one active prescription per side, "a set cannot be
logged on an ended or paused prescription". Only clinics, memberships and the care team's users
are created directly: they have no service.

Everything is deterministic for a given seed and day: names are fixed, randomness comes from one
`random.Random` per patient, and each set's `client_id` is a uuid5 of the patient's record number
and the set's index. A patient whose record number already exists in the clinic is skipped, so
running the command again creates nothing new.

The modules:

- `stories`: what a demo patient's weeks show (`Scenario`) and how often they log (`Adherence`);
- `clinics`: the two clinics, their care teams, patients' names and which stories come first;
- `plans`: who each demo patient is (`patient_plans`), the same on every run;
- `team`: the clinics, the admin, therapists and staff, created or found (`cast_ensure`);
- `seed`: one patient created with their whole history (`patient_seed`);
- `history`: that history, simulated day by day through the services (`PatientHistory`);
- `script`: the days each story scripts, and the stage each side starts at;
- `clearance_notes`: the medical team's notes the stories record.
"""
