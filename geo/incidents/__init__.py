"""Incidents: the case state machine and its SLA clock (pure, no database)."""
