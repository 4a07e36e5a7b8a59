"""Missiva campaign service."""

SERVICE_NAME = "campaign"
