"""Missiva identity service."""

SERVICE_NAME = "identity"
