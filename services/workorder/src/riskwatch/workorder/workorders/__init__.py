"""Work orders: one per alarm, accepted, disposed and closed by handlers against a deadline."""
