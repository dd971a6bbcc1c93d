"""Threshold rules: a monitoring indicator (scenario + metric) with the four warning levels."""
