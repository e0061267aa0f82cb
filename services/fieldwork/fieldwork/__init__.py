"""Fieldwork service: the visit itself (rules FLD-1..FLD-15)."""
