"""Delivery's database access: one module per aggregate (``messages``, ``suppressions``)."""
