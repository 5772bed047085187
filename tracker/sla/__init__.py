"""Delivery promises, service levels and time-based rules (free of Flask)."""
