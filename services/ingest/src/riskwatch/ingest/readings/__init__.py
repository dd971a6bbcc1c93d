"""Readings: validate a batch item by item, keep the raw readings, publish them per sector."""
