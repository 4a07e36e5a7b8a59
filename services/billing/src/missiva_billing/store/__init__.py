"""Billing's database access, a module per aggregate: ``ledger`` (the credit ledger and the
balance projection) and ``reservations``."""
