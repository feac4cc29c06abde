"""The one exception the command line turns into a one-line message and exit code 2."""


class JobError(Exception):
    """Bad input or a failed job step; the message says what is wrong and what to do."""
