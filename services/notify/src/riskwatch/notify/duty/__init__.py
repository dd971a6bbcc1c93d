"""Duty: duty centers, the people who staff them, and their shifts (值班值守)."""
