"""One clinic's data as a file, and back: `manage.py export_clinic` / `manage.py import_clinic`.

The whole-server backup is PostgreSQL's `pg_dump` (docs/backups.md). This per-clinic file exists
for what pg_dump cannot do: move one clinic to another server, or restore one clinic's records
into an empty database without rolling back every other clinic.

The file is JSON Lines. Line 1 is a header (format and app version, the clinic, the time of export,
the database schema, row counts per model, the scanned documents with their sizes, a SHA-256 of
the body, and a signature of the header); every further line is one row in Django's serialization
format (`jsonl`), with times written to the microsecond (Django's own JSON encoder cuts them to
milliseconds), and after the rows one line per scanned copy of a clearance note (base64). Rows keep
their primary keys, because audit history rows point at object ids and set logs at prescriptions.

The header is signed with `settings.EXPORT_SIGNING_KEY` (HMAC-SHA256 through Django's signing),
and it holds the body's SHA-256, so the signature covers every byte: a file changed after export,
or signed with another key, is refused. Both servers of a move share the key.

A signature says the file was written by someone holding the key, not that every row in it is
sound. So the import does not take the rows on trust either: every row must belong to the
header's clinic (`row_checks.Ownership`), no user comes in with staff or superuser status, and the
clinical rows must pass the rules the services apply when they are written (`replay`).

What goes in is declared once, in `parts.PARTS`; what stays out, with the reason, in
`parts.EXCLUDED`. A test (tests/clinic/test_backup.py) fails when a model of `patients` or
`exercises`, or any model that points at a clinic, a patient or a user, is in neither, so a new
model cannot silently miss the backups.

The modules, in the order a file passes through them:

- `parts`: what the file holds, model by model, and how each is selected for one clinic;
- `file_format`: the header line (format, version, schema, the signature) and its checks;
- `export`: `clinic_export`, writing the file from one consistent snapshot;
- `documents`: the scanned copies of clearance notes, written after the rows and restored last;
- `restore`: `clinic_import`, reading the file back in one transaction;
- `row_checks`: what the import checks row by row (ownership, collisions, admin rights, the ladder);
- `replay`: the replay check of the imported clinical rows against the services' rules;
- `errors`: `BackupError`, the refusal every step raises.
"""
