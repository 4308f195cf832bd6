"""Exceptions. A leaf module: it imports nothing from pixelagg."""

from __future__ import annotations

__all__ = ["ConfigError", "Conflict", "NotFound", "PixelaggError", "StoreError", "ValidationError"]


class PixelaggError(Exception):
    """Base class: an error pixelagg can explain to its user."""


class ConfigError(PixelaggError):
    """A configuration key has a value pixelagg cannot use."""


class StoreError(PixelaggError):
    """The store did not answer or refused a command."""


class ValidationError(PixelaggError):
    """Input from a user (API body, CLI argument) is not acceptable."""

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.details = details


class NotFound(PixelaggError):
    """The named thing (a campaign) does not exist."""


class Conflict(PixelaggError):
    """The request is valid but the state of what it names refuses it (a campaign's links are full)."""

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.details = details
