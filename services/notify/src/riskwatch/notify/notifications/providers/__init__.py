"""Provider adapters behind the channels: SMS (../sms.py), voice, group robots and e-mail, with
what they share (base.py)."""
