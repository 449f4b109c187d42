"""Errors the quality layer raises; the glue maps each to one Home Assistant error."""

from __future__ import annotations


class QualityError(Exception):
    """Base of all quality-layer errors."""


class QualityInputError(QualityError, ValueError):
    """A caller passed something the checks cannot use (a naive datetime)."""


class QualityConfigError(QualityError, ValueError):
    """The configuration is unusable (an unknown time zone, a non-positive interval)."""


class QualityStateError(QualityError, ValueError):
    """Stored state could not be restored (corrupt or from an unknown version)."""
