"""The console's expected failures: each carries a message fit to show the person at the desk."""

from __future__ import annotations


class ConsoleError(Exception):
    """An expected failure.  ``str(error)`` is a complete sentence with no secrets or
    personal information in it, safe for a dialog and for the log."""


class StartupError(ConsoleError):
    """The console cannot start with the options and profile it was given."""
