"""Performance benchmarks: a generated network of clinics and the measurements of `manage.py bench`.

See docs/performance.md for what is measured, the targets and the results.
"""
