"""The embedded platform: PostgreSQL, NATS JetStream and an SMTP sink on loopback."""
