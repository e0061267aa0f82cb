"""Intake service: the call centre's front door (rules INT-1..INT-9)."""
