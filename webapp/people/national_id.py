"""The national ID number (居民身份证号码, GB 11643-1999): a pure rule, no Flask, no database.

18 characters: a 6-digit address code, the birth date YYYYMMDD, a 3-digit sequence number and a
check character. The check character is ISO 7064 MOD 11-2: the first 17 digits weighted
7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, the sum modulo 11 indexes "10X98765432".
"""
from __future__ import annotations

import unicodedata
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)


def N_(message: str) -> str:
    """Marks a message for Babel's extraction (scripts/i18n.py: -k N_); translated where shown."""
    return message


NOT_18 = N_("The ID number must have 18 characters.")
NOT_DIGITS = N_("The first 17 characters of the ID number must be digits, the last a digit or X.")
BAD_BIRTH_DATE = N_("The birth date in the ID number is not a valid date.")
BAD_CHECK_DIGIT = N_("The ID number's check digit is wrong.")


def normalise(text: str) -> str:
    """Full-width digits and letters to ASCII (NFKC), spaces removed, a trailing x upper case."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


def check_character(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("17 ASCII digits expected")
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def birth_date(number: str) -> date | None:
    """The birth date encoded in an 18-character number, or None if it is no date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def problem(text: str, today: date | None = None) -> str | None:
    """Why `text` (already normalised) is not a valid ID number, as a message id; None if valid."""
    if len(text) != 18:
        return NOT_18
    if not (text[:17].isascii() and text[:17].isdigit() and (text[17].isdigit() or text[17] == "X")):
        return NOT_DIGITS
    born = birth_date(text)
    if born is None or born < EARLIEST_BIRTH or (today is not None and born > today):
        return BAD_BIRTH_DATE
    if check_character(text[:17]) != text[17]:
        return BAD_CHECK_DIGIT
    return None


def is_valid(text: str, today: date | None = None) -> bool:
    return problem(normalise(text), today) is None


def masked(number: str) -> str:
    """For display: the region and the last four characters only (110105********002X)."""
    return number[:6] + "*" * 8 + number[-4:] if len(number) == 18 else "*" * len(number)
