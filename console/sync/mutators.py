"""The mutators the console runs locally, for the optimistic view and for rebase: the same
functions the server runs, so offline work shows exactly as the server will apply it."""

from __future__ import annotations

import datetime as dt

from shared.customers import MUTATIONS as CUSTOMER_MUTATIONS
from shared.sync.mutators import Mutator

MUTATORS: dict[str, Mutator] = {**CUSTOMER_MUTATIONS}

SOUTH_AFRICA = dt.timezone(dt.timedelta(hours=2), "SAST")
"""The server judges dates (a birth date in the future, an ID number's century) in SAST."""


def business_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(SOUTH_AFRICA).date()


def record_type_of(name: str) -> str:
    """``customer.update`` works on customers."""
    return name.partition(".")[0]
