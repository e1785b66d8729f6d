"""Encryption of customers' personal information at rest, and the keyed hashes that let
staff find a customer by an exact ID or phone number without a plaintext column."""

from __future__ import annotations

import uuid

from shared.crypto import KeyUnwrapper, generate_aes_key, keyed_hash, open_sealed, seal, wrap_key

_CONTEXT = b"kluis/customer/"


class CustomerVault:
    """Each customer's personal fields are sealed under a data key of their own, kept
    wrapped by the master key; without that data key the fields are noise."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._unwrapper = KeyUnwrapper(master_key)
        self._search_key = keyed_hash(master_key, b"customer-search-v1", "kluis/derive/customer-search")

    @staticmethod
    def _context(customer_id: uuid.UUID) -> bytes:
        return _CONTEXT + customer_id.bytes

    def new_key(self, customer_id: uuid.UUID) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form."""
        key = generate_aes_key()
        return key, wrap_key(self._master, key, self._context(customer_id))

    def unwrap(self, customer_id: uuid.UUID, wrapped_key: bytes) -> bytes:
        return self._unwrapper.unwrap(wrapped_key, self._context(customer_id))

    def seal(self, customer_id: uuid.UUID, key: bytes, personal: bytes) -> bytes:
        return seal(key, personal, self._context(customer_id))

    def open(self, customer_id: uuid.UUID, key: bytes, personal: bytes) -> bytes:
        return open_sealed(key, personal, self._context(customer_id))

    def open_fields(self, customer_hex: str, wrapped_key: bytes, personal: bytes) -> bytes:
        """Unwrap a customer's data key and open their personal fields with it, the customer
        named by the 32 hex digits of their id (as a pull reads them)."""
        context = _CONTEXT + bytes.fromhex(customer_hex)
        return open_sealed(self._unwrapper.unwrap(wrapped_key, context), personal, context)

    def search_hash(self, kind: str, value: str) -> bytes:
        """The keyed hash of a normalised ID number, passport (``COUNTRY:NUMBER``) or phone."""
        return keyed_hash(self._search_key, value, f"kluis/customer/{kind}")
