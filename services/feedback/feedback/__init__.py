"""Feedback service: follow-up and quality (rules FBK-1..FBK-12)."""
