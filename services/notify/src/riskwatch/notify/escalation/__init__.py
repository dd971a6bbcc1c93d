"""Escalation: the steps an alarm's notifications walk through until someone acknowledges."""
