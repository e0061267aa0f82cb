"""Benchmarks: scripts that print figures and write them to ``bench/results/`` (``make bench``).

Figures are never asserted in tests; targets are compared in the printed summary.
"""
