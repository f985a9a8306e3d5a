"""The exceptions bertkit raises. Library code raises these; only the CLI prints them.

Each message says what is wrong and where (file, line, key), so a user never has to read a
traceback from deep inside torch to find the bad input.
"""

from __future__ import annotations


class BertkitError(Exception):
    """Base class of every error bertkit raises on purpose."""


class DataError(BertkitError, ValueError):
    """A bad input file or value: empty corpus, undecodable bytes, missing column, bad label."""


class ConfigError(BertkitError, ValueError):
    """An invalid configuration or option (unknown preset, hidden size not divisible by heads...)."""


class CheckpointError(BertkitError):
    """A checkpoint that cannot be loaded or resumed: wrong architecture, shapes, keys, corruption."""


class TrainingError(BertkitError):
    """Training cannot go on: a NaN or infinite loss (the message names the step and batch)."""


class LockError(BertkitError):
    """A directory is locked by another running job (the message names its PID, host and command)."""
