"""Test settings: the app's own settings, with a fast password hasher (hashing dominates otherwise)."""

from clinic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The browser tests' live server serves static files from the finders; the manifest storage
# (production's, or STATICFILES_BACKEND from the environment) would 404 every stylesheet there.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploaded clearance documents go to a folder of the test run, never to the project's own.
import tempfile  # noqa: E402

PRIVATE_FILES_ROOT = Path(tempfile.mkdtemp(prefix="clinic-private-files-"))  # noqa: F405
STORAGES["private"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(PRIVATE_FILES_ROOT)},
}
