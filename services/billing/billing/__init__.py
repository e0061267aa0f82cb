"""Billing service: fees, receipts and invoices (rules BIL-1..BIL-12)."""
