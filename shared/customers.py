"""Customers: the data subjects branch staff serve.  The record, its validation, its
mutators and how its personal fields are masked."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from shared.sa_id import InvalidSaIdNumber, parse_sa_id
from shared.sa_id import mask as mask_id_number
from shared.sync.mutators import Mutator, Put, Reader, Rejection

RECORD_TYPE = "customer"

PERSONAL_FIELDS = (
    "first_names",
    "surname",
    "id_number",
    "passport_number",
    "passport_country",
    "date_of_birth",
    "email",
    "phone",
    "address",
)
"""Fields that are personal information: encrypted at rest on the server, masked on screen."""


class Province(StrEnum):
    EASTERN_CAPE = "EC"
    FREE_STATE = "FS"
    GAUTENG = "GP"
    KWAZULU_NATAL = "KZN"
    LIMPOPO = "LP"
    MPUMALANGA = "MP"
    NORTHERN_CAPE = "NC"
    NORTH_WEST = "NW"
    WESTERN_CAPE = "WC"


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]

_PHONE = re.compile(r"\+27[1-9][0-9]{8}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")
_PASSPORT = re.compile(r"[A-Z0-9]{6,12}")
_COUNTRY = re.compile(r"[A-Z]{2}")


def normalise_phone(value: str) -> str:
    """South African numbers in E.164: ``082 123 4567`` becomes ``+27821234567``."""
    digits = re.sub(r"[\s\-()]", "", value)
    if digits.startswith("0") and len(digits) == 10:
        digits = "+27" + digits[1:]
    elif digits.startswith("27") and len(digits) == 11:
        digits = "+" + digits
    if not _PHONE.fullmatch(digits):
        raise ValueError("must be a South African phone number such as 082 123 4567")
    return digits


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    line1: Line
    line2: Line | None = None
    suburb: Line | None = None
    city: Line
    province: Province
    postal_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]


class CustomerFields(BaseModel):
    """What staff capture about a customer; every field here is personal information."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_names: Name
    surname: Name
    id_number: str | None = Field(None, description="13-digit South African ID number.")
    passport_number: str | None = None
    passport_country: str | None = Field(None, description="ISO 3166 alpha-2 code of the issuing country.")
    date_of_birth: dt.date
    email: str | None = None
    phone: str | None = None
    address: Address | None = None

    @field_validator("id_number")
    @classmethod
    def _id_digits(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.replace(" ", "")
        if not re.fullmatch(r"[0-9]{13}", value):
            raise ValueError("must be 13 digits")
        return value

    @field_validator("passport_number")
    @classmethod
    def _passport(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.replace(" ", "").upper()
        if not _PASSPORT.fullmatch(value):
            raise ValueError("must be 6 to 12 letters or digits")
        return value

    @field_validator("passport_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not _COUNTRY.fullmatch(value):
            raise ValueError("must be a two-letter country code")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if len(value) > 254 or not _EMAIL.fullmatch(value):
            raise ValueError("is not an email address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_phone(value)


class Customer(BaseModel):
    """A customer as it syncs to a device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    branch_id: uuid.UUID
    status: Literal["active", "erased"] = "active"
    fields: CustomerFields | None = Field(
        description="None once the customer's personal information is erased."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class CreateCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(description="Made by the client, so a retried create is the same create.")
    branch_id: uuid.UUID
    fields: CustomerFields


class UpdateCustomer(BaseModel):
    """Change some fields; fields not named keep their value (last writer wins per field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID
    changes: dict[str, Any] = Field(min_length=1)

    @field_validator("changes")
    @classmethod
    def _known_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(CustomerFields.model_fields))
        if unknown:
            raise ValueError(f"unknown fields {unknown}")
        return value


def check_identity(fields: CustomerFields, today: dt.date) -> None:
    """A customer is identified by a valid South African ID number or by a passport."""
    if fields.id_number is None and fields.passport_number is None:
        raise Rejection("identity_missing", "An ID number or a passport number is required.")
    if fields.passport_number is not None and fields.passport_country is None:
        raise Rejection("passport_country_missing", "The passport's issuing country is required.")
    if fields.date_of_birth > today:
        raise Rejection("date_of_birth_in_future", "The date of birth is in the future.")
    if fields.id_number is not None:
        try:
            identity = parse_sa_id(fields.id_number, today)
        except InvalidSaIdNumber as exc:
            raise Rejection("invalid_id_number", f"The ID number is not valid: {exc}") from None
        if identity.date_of_birth != fields.date_of_birth:
            raise Rejection("date_of_birth_mismatch", "The date of birth does not match the ID number.")


def _fields(data: Mapping[str, Any]) -> CustomerFields:
    try:
        return CustomerFields.model_validate(data)
    except ValidationError as exc:
        where = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        raise Rejection("invalid_fields", f"Check these fields: {where}.") from None


def _timestamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat()


def create_customer(args: Mapping[str, Any], read: Reader, today: dt.date, now: dt.datetime) -> list[Put]:
    try:
        command = CreateCustomer.model_validate(args)
    except ValidationError as exc:
        where = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        raise Rejection("invalid_fields", f"Check these fields: {where}.") from None
    existing = read(RECORD_TYPE, command.id)
    if existing is not None:
        # The same create retried after its result was lost: nothing more to do.
        return []
    check_identity(command.fields, today)
    record = Customer(
        id=command.id,
        branch_id=command.branch_id,
        fields=command.fields,
        created_at=now,
        updated_at=now,
    )
    return [Put(RECORD_TYPE, command.id, record.model_dump(mode="json"))]


def update_customer(args: Mapping[str, Any], read: Reader, today: dt.date, now: dt.datetime) -> list[Put]:
    try:
        command = UpdateCustomer.model_validate(args)
    except ValidationError as exc:
        where = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        raise Rejection("invalid_fields", f"Check these fields: {where}.") from None
    existing = read(RECORD_TYPE, command.id)
    if existing is None:
        raise Rejection("not_found", "The customer does not exist or is not visible to you.")
    current = Customer.model_validate(existing)
    if current.fields is None:
        raise Rejection("erased", "This customer's personal information has been erased.")
    merged = {**current.fields.model_dump(mode="json"), **command.changes}
    fields = _fields(merged)
    check_identity(fields, today)
    updated = current.model_copy(update={"fields": fields, "updated_at": now})
    return [Put(RECORD_TYPE, command.id, updated.model_dump(mode="json"))]


MUTATIONS: dict[str, Mutator] = {"customer.create": create_customer, "customer.update": update_customer}


def display_name(data: Mapping[str, Any]) -> str:
    fields = data.get("fields")
    if not fields:
        return "(erased)"
    return f"{fields['first_names']} {fields['surname']}"


def masked(data: Mapping[str, Any]) -> dict[str, str | None]:
    """The personal fields as staff see them before revealing: enough to recognise the
    customer at the counter, not enough to copy."""
    fields = data.get("fields") or {}
    id_number = fields.get("id_number")
    phone = fields.get("phone")
    email = fields.get("email")
    passport = fields.get("passport_number")
    return {
        "id_number": mask_id_number(id_number) if id_number else None,
        "passport_number": ("*" * (len(passport) - 3) + passport[-3:]) if passport else None,
        "phone": (phone[:3] + "*" * (len(phone) - 6) + phone[-3:]) if phone else None,
        "email": (email[0] + "***@" + email.split("@", 1)[1]) if email else None,
        "date_of_birth": "****-**-**" if fields.get("date_of_birth") else None,
    }
