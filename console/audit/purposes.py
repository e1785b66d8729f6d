"""Why an auditor exports evidence: the purpose codes an export's access record carries (the
audit log holds codes, never free text) and how each reads on screen."""

from __future__ import annotations

EXPORT_PURPOSES: dict[str, str] = {
    "internal_audit": "Internal audit",
    "external_audit": "External audit",
    "regulator_request": "Request from the Information Regulator or another regulator",
    "incident_investigation": "Security incident or breach investigation",
    "data_subject_request": "Data subject access request",
    "legal_proceedings": "Legal proceedings",
}
