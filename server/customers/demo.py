"""Demonstration customers for a demo installation (``kluis-server demo-data``).

Made-up people only: names drawn at random from common South African first names and
surnames, ID numbers built to the format's rules (date of birth, sequence, citizenship, check
digit) for dates of birth in the past, phone numbers in the fictional 082 000 range and
addresses on invented streets.  They are written through the customer store exactly as a
teller's creations are (sealed under their own data keys, searchable by keyed hashes, in the
change feed), and each creation is recorded in the audit log as the demo teller's, marked
with the reason ``demo_data``, so that the auditor's workspace has a trail to follow."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from server.audit.pending import record_server_event
from server.customers.service import CustomerRegister
from server.db.engine import Database
from server.sync.positions import write_position
from shared.customers import RECORD_TYPE, Address, Customer, CustomerFields, Province
from shared.sa_id import luhn_check_digit

FIRST_NAMES = (
    "Thandiwe",
    "Sipho",
    "Lerato",
    "Johan",
    "Priya",
    "Ayanda",
    "Naledi",
    "Pieter",
    "Zanele",
    "Mohammed",
    "Annelie",
    "Bongani",
    "Refilwe",
    "Kagiso",
    "Nomvula",
    "Ruan",
    "Fatima",
    "Tshepo",
    "Chantelle",
    "Lwazi",
)
SURNAMES = (
    "Nkosi",
    "Dlamini",
    "van der Merwe",
    "Naidoo",
    "Mokoena",
    "Botha",
    "Zulu",
    "Pillay",
    "Mahlangu",
    "Jacobs",
    "Khumalo",
    "Pretorius",
    "Ndlovu",
    "Adams",
    "Molefe",
    "du Plessis",
)
STREETS = ("Acacia", "Jacaranda", "Protea", "Marula", "Baobab", "Msasa", "Kiepersol", "Wild Fig")
CITIES = {
    "HO": ("Sandton", Province.GAUTENG, "2196"),
    "JHB01": ("Johannesburg", Province.GAUTENG, "2001"),
    "CPT01": ("Cape Town", Province.WESTERN_CAPE, "8001"),
    "DBN01": ("Durban", Province.KWAZULU_NATAL, "4001"),
}


@dataclass(frozen=True)
class DemoBranch:
    code: str
    branch_id: uuid.UUID
    teller_id: uuid.UUID
    """Who the customers' creation is recorded as."""


def _id_number(born: dt.date, rng: random.Random) -> str:
    payload = f"{born:%y%m%d}{rng.randrange(10_000):04d}08"
    return payload + str(luhn_check_digit(payload))


def demo_fields(code: str, serial: int, rng: random.Random, today: dt.date) -> CustomerFields:
    born = today - dt.timedelta(days=rng.randrange(18 * 365, 85 * 365))
    city, province, postal_code = CITIES.get(code, CITIES["JHB01"])
    first = rng.choice(FIRST_NAMES)
    surname = rng.choice(SURNAMES)
    return CustomerFields(
        first_names=first,
        surname=surname,
        id_number=_id_number(born, rng),
        date_of_birth=born,
        email=f"{first.lower()}.{surname.lower().replace(' ', '')}{serial}@example.com",
        phone=f"082000{serial:04d}",
        address=Address(
            line1=f"{rng.randrange(1, 400)} {rng.choice(STREETS)} Street",
            city=city,
            province=province,
            postal_code=postal_code,
        ),
    )


async def create_demo_customers(
    database: Database,
    register: CustomerRegister,
    branches: list[DemoBranch],
    *,
    per_branch: int,
    now: dt.datetime,
    seed: int = 2026,
) -> int:
    """``per_branch`` customers in each branch, one transaction per branch; returns how many."""
    rng = random.Random(seed)  # noqa: S311 - made-up demo people, repeatable on purpose
    made = 0
    for branch_number, branch in enumerate(branches):
        async with database.transaction(write=True) as connection:
            position = await write_position(connection)
            for number in range(per_branch):
                serial = branch_number * per_branch + number
                customer = Customer(
                    id=uuid.uuid4(),
                    branch_id=branch.branch_id,
                    fields=demo_fields(branch.code, serial, rng, now.date()),
                    created_at=now,
                    updated_at=now,
                )
                await register.store.write(
                    connection, customer, previous=None, actor=branch.teller_id, position=position
                )
                await record_server_event(
                    connection,
                    action="create",
                    object_type=RECORD_TYPE,
                    object_id=str(customer.id),
                    actor=branch.teller_id,
                    role="teller",
                    reason="demo_data",
                    occurred_at=now,
                )
                made += 1
    return made
