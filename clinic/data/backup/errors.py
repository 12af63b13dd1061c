"""The refusal every step of the clinic export and import raises."""


class BackupError(Exception):
    """A refusal: the message says what is wrong and what to do. Nothing has been written."""
