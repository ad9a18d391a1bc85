"""The one exception of ``accelport launch``: a usage problem found before anything starts."""

from __future__ import annotations


class LaunchError(Exception):
    """A usage problem found before anything is started (reported as exit code 2)."""
