"""Danish public holidays and the electricity market's working days, computed for any year.

Holidays (helligdagsloven): New Year's Day, Maundy Thursday, Good Friday, Easter Sunday and
Monday, Ascension Day, Whit Sunday and Monday, Christmas Day and Boxing Day. Store Bededag (the
fourth Friday after Easter) was a holiday until 2023; the act abolishing it took effect in 2024.

A working day is Monday to Friday except those holidays and, as elflow's choice following the
market's usual practice [unconfirmed: Forskrift H1's definition was not available], Constitution
Day (5 June), Christmas Eve and New Year's Eve. No list is kept per year: Easter comes from the
Gregorian computus, so every year is right.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

LAST_YEAR_WITH_STORE_BEDEDAG = 2023

# Days off in the market besides the public holidays (month, day) — elflow's choice, see above.
MARKET_DAYS_OFF = ((6, 5), (12, 24), (12, 31))


def easter_sunday(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous computus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=256)
def public_holidays(year: int) -> dict[date, str]:
    """The Danish public holidays of `year`, date → Danish name."""
    easter = easter_sunday(year)
    movable = {
        -3: "Skærtorsdag",
        -2: "Langfredag",
        0: "Påskedag",
        1: "2. påskedag",
        39: "Kristi himmelfartsdag",
        49: "Pinsedag",
        50: "2. pinsedag",
    }
    if year <= LAST_YEAR_WITH_STORE_BEDEDAG:
        movable[26] = "Store bededag"
    found = {easter + timedelta(days=offset): name for offset, name in movable.items()}
    found[date(year, 1, 1)] = "Nytårsdag"
    found[date(year, 12, 25)] = "Juledag"
    found[date(year, 12, 26)] = "2. juledag"
    return dict(sorted(found.items()))


def is_working_day(day: date) -> bool:
    """Monday–Friday, not a public holiday, not one of the market's days off."""
    if day.weekday() >= 5 or day in public_holidays(day.year):
        return False
    return (day.month, day.day) not in MARKET_DAYS_OFF


def working_days_before(day: date, count: int) -> date:
    """The working day `count` working days before `day` (`day` itself need not be one)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    found = day
    left = count
    while left:
        found -= timedelta(days=1)
        if is_working_day(found):
            left -= 1
    return found
