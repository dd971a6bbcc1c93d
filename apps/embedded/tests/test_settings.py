"""The embedded platform's own settings."""

from __future__ import annotations

import pytest

from riskwatch.embedded.settings import EmbeddedSettings


def test_setting_the_mqtt_port_keeps_the_managed_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """RW_MQTT__PORT alone replaced the default MqttSettings(managed_broker=True) with one built
    from the environment, and the embedded broker silently did not start."""
    monkeypatch.setenv("RW_MQTT__PORT", "1999")
    settings = EmbeddedSettings()
    assert (settings.mqtt.managed_broker, settings.mqtt.port) == (True, 1999)
    monkeypatch.setenv("RW_MQTT__MANAGED_BROKER", "false")
    assert EmbeddedSettings().mqtt.managed_broker is False
