"""The audit log's key: one Ed25519 key (purpose ``log-signing``) signs both checkpoints
(as a C2SP note key named after the log's origin) and the server's own events.  It is
loaded like the identity keys (:mod:`server.auth.keystore`): a configured PEM file, or one
created in DATA_DIR/keys on first start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.auth.keystore import SigningKeyRing, load_signing_key_ring
from server.config import Settings
from shared.crypto import private_key_to_raw, public_key_to_raw
from shared.note import Signer, Verifier

LOG_SIGNING = "log-signing"


@dataclass(frozen=True)
class AuditKeys:
    ring: SigningKeyRing
    note_signer: Signer

    @property
    def key_id(self) -> str:
        """The id server events name as their signer (``server:<key id>``)."""
        return self.ring.current.key_id

    @property
    def verifier(self) -> Verifier:
        return self.note_signer.verifier

    @property
    def server_keys(self) -> Mapping[str, bytes]:
        """Every key id whose server events this log accepts, and its raw public key."""
        return {kid: public_key_to_raw(public) for kid, public in self.ring.accepted.items()}

    @classmethod
    def from_ring(cls, ring: SigningKeyRing, origin: str) -> AuditKeys:
        return cls(ring=ring, note_signer=Signer(origin, private_key_to_raw(ring.current.private)))

    @classmethod
    def load(cls, settings: Settings) -> AuditKeys:
        ring = load_signing_key_ring(
            LOG_SIGNING, keys_dir=settings.data_dir / "keys", key_file=settings.audit_signing_key_file
        )
        return cls.from_ring(ring, settings.audit_origin)

    @classmethod
    def ephemeral(cls, origin: str) -> AuditKeys:
        return cls.from_ring(SigningKeyRing.ephemeral(LOG_SIGNING), origin)
