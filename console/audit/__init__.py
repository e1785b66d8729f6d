"""The auditor's copy of the signed audit log: downloaded into the vault, browsed and
verified offline, and exported as evidence bundles."""
