"""Runyard: self-hosted experiment tracking and GPU launch platform."""

__version__ = "0.1.0"
