"""Missiva delivery service."""

SERVICE_NAME = "delivery"
