from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sa_id import Gender, InvalidSaIdNumber, SaIdNumber, luhn_check_digit, mask, parse_sa_id

TODAY = date(2025, 6, 1)


def make_id(birth: str, sequence: str = "5009", citizenship: str = "0", race: str = "8") -> str:
    payload = birth + sequence + citizenship + race
    return payload + str(luhn_check_digit(payload))


def luhn_valid(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == int(number[-1])


def test_luhn_check_digit() -> None:
    assert luhn_check_digit("7992739871") == 3  # the usual worked example
    assert luhn_check_digit("0") == 0
    assert luhn_check_digit("") == 0
    assert make_id("800101") == "8001015009087"


def test_parse_valid_number() -> None:
    assert parse_sa_id("8001015009087", TODAY) == SaIdNumber(date(1980, 1, 1), Gender.MALE, citizen=True)
    parsed = parse_sa_id(make_id("920228", "0123", "1", "9"), TODAY)
    assert parsed == SaIdNumber(date(1992, 2, 28), Gender.FEMALE, citizen=False)


@pytest.mark.parametrize(
    ("birth", "today", "expected"),
    [
        ("250531", TODAY, date(2025, 5, 31)),
        ("250601", TODAY, date(2025, 6, 1)),
        ("250602", TODAY, date(1925, 6, 2)),
        ("991231", TODAY, date(1999, 12, 31)),
        ("000229", TODAY, date(2000, 2, 29)),
        ("240229", TODAY, date(2024, 2, 29)),
        ("000101", date(2000, 1, 1), date(2000, 1, 1)),
        ("000102", date(2000, 1, 1), date(1900, 1, 2)),
        ("000229", date(2100, 3, 1), date(2000, 2, 29)),
    ],
)
def test_century_is_the_most_recent_past_date(birth: str, today: date, expected: date) -> None:
    assert parse_sa_id(make_id(birth), today).date_of_birth == expected


@pytest.mark.parametrize(
    ("sequence", "gender"),
    [("0000", Gender.FEMALE), ("4999", Gender.FEMALE), ("5000", Gender.MALE), ("9999", Gender.MALE)],
)
def test_gender_from_sequence(sequence: str, gender: Gender) -> None:
    assert parse_sa_id(make_id("800101", sequence), TODAY).gender is gender


@pytest.mark.parametrize("race", "0123456789")
def test_any_twelfth_digit_is_accepted(race: str) -> None:
    parse_sa_id(make_id("800101", race=race), TODAY)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("800101500908", "exactly 13 digits"),
        ("80010150090870", "exactly 13 digits"),
        ("800101 500908", "exactly 13 digits"),
        (" 8001015009087", "exactly 13 digits"),
        ("8001015009087\n", "exactly 13 digits"),
        ("80010150090A7", "exactly 13 digits"),
        ("800101500908\u0667", "exactly 13 digits"),
        ("", "exactly 13 digits"),
        (make_id("801301"), "real date"),
        (make_id("800132"), "real date"),
        (make_id("800100"), "real date"),
        (make_id("800001"), "real date"),
        (make_id("250229"), "real date"),
        (make_id("800231"), "real date"),
        (make_id("800101", citizenship="2"), "citizenship"),
        (make_id("800101", citizenship="9"), "citizenship"),
        ("8001015009086", "check digit"),
        ("8001015009088", "check digit"),
    ],
)
def test_invalid_numbers(value: str, reason: str) -> None:
    with pytest.raises(InvalidSaIdNumber, match=reason) as info:
        parse_sa_id(value, TODAY)
    if len(value) >= 6:
        assert value not in str(info.value)
        assert value[:6] not in str(info.value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidSaIdNumber):
        parse_sa_id(8001015009087, TODAY)  # type: ignore[arg-type]


def test_mask() -> None:
    assert mask("8001015009087") == "*********9087"
    assert mask("12345") == "*2345"
    assert mask("1234") == "****"
    assert mask("") == ""


id_numbers = st.builds(
    lambda born, sequence, citizen, race: make_id(born.strftime("%y%m%d"), f"{sequence:04d}", citizen, race),
    st.dates(min_value=date(1926, 6, 2), max_value=TODAY),
    st.integers(min_value=0, max_value=9999),
    st.sampled_from("01"),
    st.sampled_from("0123456789"),
)


@given(id_numbers)
def test_generated_numbers_parse(number: str) -> None:
    parsed = parse_sa_id(number, TODAY)
    assert parsed.date_of_birth.strftime("%y%m%d") == number[:6]
    assert parsed.citizen == (number[10] == "0")
    assert (parsed.gender is Gender.MALE) == (number[6] >= "5")


@given(id_numbers, st.integers(min_value=0, max_value=12), st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_breaks_the_check(number: str, position: int, delta: int) -> None:
    digit = (int(number[position]) + delta) % 10
    changed = number[:position] + str(digit) + number[position + 1 :]
    assert luhn_valid(number)
    assert not luhn_valid(changed)
    with pytest.raises(InvalidSaIdNumber):
        parse_sa_id(changed, TODAY)
