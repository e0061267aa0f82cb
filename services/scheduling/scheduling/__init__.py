"""Scheduling service: assignment, appointments, day plans and lateness (rules SCH-1..SCH-12)."""
