"""Every clinical number lives in one module, patients/thresholds.py (docs/domain.md).

The screens, the API, the charts and the patient's pain key read the values in force for a clinic
or a prescription; a number written anywhere else would be a rule that a clinic's own settings
cannot reach. This test greps the code and the templates for the shapes those numbers take. The
same search from a shell:

    grep -rnE 'pain *[<>]=? *[0-9]|pain__(gt|gte|lt|lte)=[1-9]|(above|below) [0-9]+(/10)?\\b|\\b[0-9]+\\+? reps\\b|\\b(7|30)[ -]days?\\b|timedelta\\(days=(7|30)\\)|0–3|4–5|2–15|16–30|\\b1?6\\+' \\
        --include='*.py' --include='*.html' --include='*.js' clinic exercises patients templates static \\
        | grep -v -e migrations/ -e patients/thresholds.py
"""

import re
from pathlib import Path

import pytest

from patients import thresholds as t

ROOT = Path(__file__).resolve().parent.parent
SEARCHED = ("clinic", "exercises", "patients", "templates", "static")
SUFFIXES = {".py", ".html", ".js"}
# The one module; the migrations (frozen history: a data migration states what the data was, and
# are skipped below); and the benchmark's generator, whose numbers shape synthetic data (how long a
# generated note lasts), not any rule the system applies.
EXEMPT = {Path("patients/thresholds.py"), Path("clinic/bench/generate.py")}

SHAPES = {
    "a pain comparison": re.compile(r"\bpain\s*[<>]=?\s*\d"),
    # 0 is the bottom of the scale, not a threshold.
    "a pain lookup": re.compile(r"pain__(gt|gte|lt|lte)=[1-9]"),
    "above/below a number": re.compile(r"\b(above|below) \d+(/10)?\b"),
    "a number of reps": re.compile(r"\b\d+\+? reps\b"),
    "a week or a month of days": re.compile(r"\b(7|30)[ -]days?\b"),
    "a week or a month as a timedelta": re.compile(r"timedelta\(days=(7|30)\)"),
    "a pain or data-day band": re.compile(r"0–3|4–5|2–15|16–30|\b1?6\+"),
}


def _files() -> list[Path]:
    found = []
    for top in SEARCHED:
        for path in (ROOT / top).rglob("*"):
            relative = path.relative_to(ROOT)
            if (
                path.suffix in SUFFIXES
                and "migrations" not in relative.parts
                and "vendor" not in relative.parts
                and relative not in EXEMPT
            ):
                found.append(path)
    return found


def test_no_clinical_number_is_written_outside_the_thresholds_module():
    strays = []
    for path in _files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for shape, pattern in SHAPES.items():
                if pattern.search(line):
                    strays.append(f"{path.relative_to(ROOT)}:{number}: {shape}: {line.strip()}")
    assert strays == [], "\n".join(strays)


@pytest.mark.parametrize(
    ("line", "shape"),
    [
        ("if pain > 5:", "a pain comparison"),
        ("SetLog.objects.filter(pain__gt=5)", "a pain lookup"),
        ('"Sets with pain above 5"', "above/below a number"),
        ('"20 reps in one set"', "a number of reps"),
        ('"No logs for 7 days"', "a week or a month of days"),
        ("dt.timedelta(days=7)", "a week or a month as a timedelta"),
        ("<b>4–5</b> moderate", "a pain or data-day band"),
    ],
)
def test_the_search_would_find_each_shape(line, shape):
    assert SHAPES[shape].search(line)


def test_the_module_states_the_defaults_and_their_sources():
    assert (t.READY_REPS, t.READY_PAIN_CEILING, t.PAIN_ALERT_ABOVE) == (20, 3, 5)
    assert (t.PAIN_LOOKBACK_DAYS, t.SILENT_DAYS, t.REVIEW_SOON_DAYS) == (7, 7, 7)
    assert "Boren" in t.BOREN_2011 and "Thomeé" in t.THOMEE_1997
    assert t.DEFAULTS.pain_key == [
        ("none", "0", "no pain"),
        ("safe", "1–3", "mild: fine"),
        ("acceptable", "4–5", "moderate: acceptable"),
        ("too_much", "6+", "too much: stop and tell your therapist"),
    ]


def test_a_clinics_own_values_shape_the_pain_key():
    values = t.Thresholds(pain_ceiling=0, pain_alert_above=4)
    assert values.pain_key == [
        ("none", "0", "no pain"),
        ("acceptable", "1–4", "moderate: acceptable"),
        ("too_much", "5+", "too much: stop and tell your therapist"),
    ]
    assert [values.pain_band(n) for n in (0, 1, 4, 5)] == [
        "none",
        "acceptable",
        "acceptable",
        "too_much",
    ]
