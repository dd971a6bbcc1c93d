"""Kafka inbound: sector systems publish readings as CloudEvents on `rw.<sector>.inbound`."""
