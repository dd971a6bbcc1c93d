"""Test doubles that ship with notify, for its tests and the platform's (providers.py)."""
