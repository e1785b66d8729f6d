"""Encryption of customers' personal information at rest, and the keyed hashes that let
staff find a customer by an exact ID or phone number without a plaintext column."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.crypto import generate_aes_key, keyed_hash, open_sealed, seal, unwrap_key, wrap_key


@dataclass(frozen=True)
class Sealed:
    wrapped_key: bytes
    personal: bytes


class CustomerVault:
    """Each customer's personal fields are sealed under a data key of their own, stored
    wrapped by the master key; erasing the wrapped key erases the customer."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._search_key = keyed_hash(master_key, b"customer-search-v1", "kluis/derive/customer-search")

    @staticmethod
    def _context(customer_id: uuid.UUID) -> bytes:
        return b"kluis/customer/" + customer_id.bytes

    def seal(self, customer_id: uuid.UUID, personal: bytes, wrapped_key: bytes | None = None) -> Sealed:
        """Seal ``personal`` (canonical JSON) under the customer's key, made if new."""
        context = self._context(customer_id)
        if wrapped_key is None:
            key = generate_aes_key()
            wrapped_key = wrap_key(self._master, key, context)
        else:
            key = unwrap_key(self._master, wrapped_key, context)
        return Sealed(wrapped_key, seal(key, personal, context))

    def open(self, customer_id: uuid.UUID, wrapped_key: bytes, personal: bytes) -> bytes:
        context = self._context(customer_id)
        return open_sealed(unwrap_key(self._master, wrapped_key, context), personal, context)

    def search_hash(self, kind: str, value: str) -> bytes:
        """The keyed hash of a normalised ID number, passport (``COUNTRY:NUMBER``) or phone."""
        return keyed_hash(self._search_key, value, f"kluis/customer/{kind}")
