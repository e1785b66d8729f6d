"""Talking to the Kluis sync server: trust, transport, failover and typed errors."""
