"""Missiva billing service."""

SERVICE_NAME = "billing"
