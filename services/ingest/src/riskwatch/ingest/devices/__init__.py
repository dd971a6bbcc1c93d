"""The device registry: which devices exist, where they are, which scenario they watch."""
