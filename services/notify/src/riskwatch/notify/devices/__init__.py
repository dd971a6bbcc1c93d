"""Notices about devices' liveness: a device offline (its technical alarm raised) and back online
(cleared), to the technical staff over it."""
