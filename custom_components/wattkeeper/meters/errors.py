"""Errors every meter driver raises; the glue maps each to one Home Assistant error."""

from __future__ import annotations


class MeterError(Exception):
    """Base of all meter errors."""


class MeterConnectionError(MeterError):
    """The meter could not be reached or the link broke; retrying may help."""


class MeterTimeoutError(MeterConnectionError):
    """The meter did not answer in time."""


class MeterAuthError(MeterError):
    """The meter refused our credentials or token; the user must act."""


class MeterDisabledError(MeterError):
    """The meter's local API is switched off (HomeWizard app setting)."""


class MeterDataError(MeterError):
    """The meter answered with something we cannot read (garbage, bad CRC)."""


class MeterUnsupportedError(MeterError):
    """The device is not a meter kind or model we support."""
