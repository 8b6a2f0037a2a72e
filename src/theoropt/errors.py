"""Exceptions that carry a message meant for the user (the CLI prints them without a traceback)."""


class TheoroptError(Exception):
    """Base class of errors whose message alone tells the user what went wrong."""


class DataError(TheoroptError):
    """A shipped data file is missing, corrupt or unknown."""


class ExperimentError(TheoroptError):
    """An unknown experiment, mode or output folder."""
