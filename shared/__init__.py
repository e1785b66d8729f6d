"""Code both sides of Kluis share: domain models, the sync protocol, canonical JSON,
cryptography and the RFC 6962 Merkle log.  Pure code: no I/O, no Qt."""
