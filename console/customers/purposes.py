"""Why staff look at a customer: the purpose codes access records carry (the audit log
holds codes, never free text) and how each reads on screen."""

from __future__ import annotations

PURPOSES: dict[str, str] = {
    "customer_service": "Serving the customer (at the counter or on the phone)",
    "identity_verification": "Verifying the customer's identity",
    "account_opening": "Opening or changing an account",
    "complaint_handling": "Handling a complaint",
    "compliance_review": "Compliance review (FICA / POPIA)",
    "data_subject_request": "Data subject access or correction request",
    "fraud_investigation": "Fraud investigation",
}

DEFAULT_PURPOSE = "customer_service"


def purpose_label(code: str) -> str:
    return PURPOSES.get(code, code)
