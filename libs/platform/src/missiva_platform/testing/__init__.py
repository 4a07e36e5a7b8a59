"""Test support for Missiva services: the pytest plugin and helpers."""
