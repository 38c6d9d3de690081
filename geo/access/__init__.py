"""Accountable access: users, roles scoped to places, permissions, API keys, audit log."""
