"""Test settings: the app's own settings, with a fast password hasher (hashing dominates otherwise)."""

from clinic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
