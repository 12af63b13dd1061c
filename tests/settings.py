"""Test settings: the app's own settings, with a fast password hasher (hashing dominates otherwise)."""

from clinic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The browser tests' live server serves static files from the finders; the manifest storage
# (production's, or STATICFILES_BACKEND from the environment) would 404 every stylesheet there.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
