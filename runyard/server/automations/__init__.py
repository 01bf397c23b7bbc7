"""Automations: team secrets, integrations, triggers that turn events into webhook deliveries."""
