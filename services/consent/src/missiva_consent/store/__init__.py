"""Consent's SQL, one module per aggregate: named queries and the functions that run them.

Every function takes an open connection and runs inside the caller's transaction, so a
ledger entry, its projection, a suppression entry and their outbox events commit together.
Callers import the module they need (``from missiva_consent.store import ledger``); this
package re-exports nothing.
"""
