"""South African identity numbers: ``YYMMDD SSSS C A Z``.

* ``YYMMDD``: date of birth.  The century is not written; we take the most recent real date
  that is not after ``today``.
* ``SSSS``: sequence number, 0000-4999 for females and 5000-9999 for males.
* ``C``: 0 for a South African citizen, 1 for a permanent resident.
* ``A``: formerly a race code, now usually 8 or 9; any digit is accepted.
* ``Z``: Luhn check digit over the first twelve digits.

An ID number is personal information under POPIA, so no error message here ever contains the
number or any part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

__all__ = ["Gender", "InvalidSaIdNumber", "SaIdNumber", "luhn_check_digit", "mask", "parse_sa_id"]

_THIRTEEN_DIGITS: Final = re.compile(r"[0-9]{13}\Z")
_VISIBLE_DIGITS: Final = 4


class InvalidSaIdNumber(ValueError):
    """The value is not a valid South African ID number; the message says why, without the
    number itself."""


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"


@dataclass(frozen=True)
class SaIdNumber:
    """What a valid ID number says about its holder."""

    date_of_birth: date
    gender: Gender
    citizen: bool
    """True for a citizen, False for a permanent resident."""


def luhn_check_digit(payload: str) -> int:
    """The digit that, appended to *payload* (ASCII digits), makes the Luhn sum divisible by 10."""
    total = 0
    # Walking right to left, the payload's last digit sits next to the check digit, so it and
    # every second digit before it are doubled.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def _date_of_birth(yy: int, mm: int, dd: int, today: date) -> date:
    century = today.year - today.year % 100
    for year in (century + yy, century - 100 + yy):
        try:
            candidate = date(year, mm, dd)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    raise InvalidSaIdNumber("digits 1-6 are not a real date of birth")


def parse_sa_id(value: str, today: date) -> SaIdNumber:
    """Validate *value* (exactly 13 ASCII digits, no spaces) against *today*'s date."""
    if not isinstance(value, str) or not _THIRTEEN_DIGITS.match(value):
        raise InvalidSaIdNumber("an ID number is exactly 13 digits")
    born = _date_of_birth(int(value[0:2]), int(value[2:4]), int(value[4:6]), today)
    citizenship = value[10]
    if citizenship not in "01":
        raise InvalidSaIdNumber("digit 11 (citizenship) must be 0 or 1")
    if luhn_check_digit(value[:12]) != int(value[12]):
        raise InvalidSaIdNumber("the check digit (digit 13) does not match")
    gender = Gender.FEMALE if int(value[6:10]) < 5000 else Gender.MALE
    return SaIdNumber(date_of_birth=born, gender=gender, citizen=citizenship == "0")


def mask(value: str) -> str:
    """*value* with all but its last four characters replaced by ``*`` (``*********1234``).

    Values of four characters or fewer are masked completely, since showing "the last four"
    would show everything.
    """
    if len(value) <= _VISIBLE_DIGITS:
        return "*" * len(value)
    return "*" * (len(value) - _VISIBLE_DIGITS) + value[-_VISIBLE_DIGITS:]
