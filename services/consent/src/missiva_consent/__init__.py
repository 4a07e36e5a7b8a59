"""Missiva consent service."""

SERVICE_NAME = "consent"
