"""MQTT inbound: devices publish telemetry to a Mosquitto broker with their own credentials."""
