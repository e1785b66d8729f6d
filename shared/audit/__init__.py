"""The audit log's pure parts: events and their signed bytes, log entries (commitments),
evidence bundles, and the offline verifier.  docs/audit-log.md defines every format here."""
