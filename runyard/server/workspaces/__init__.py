"""Workspace services: each user's saved workspace views and the media runs logged over steps."""
