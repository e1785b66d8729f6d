"""The audit log: ingestion of signed events, the Merkle log and its checkpoints, tiles,
proofs, evidence bundles and retention.  docs/audit-log.md describes it."""
