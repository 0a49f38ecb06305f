"""Exact money: ISO 4217 currencies, amounts as strings in and out, `Decimal` in between.

An amount arrives as a JSON string of at most 13 integer digits and at most 4 decimals (the schema
checks the shape); the service then checks it against the currency's minor digits, because only
the project knows the currency. Nothing is ever rounded on the way in: an extra digit is a 422.
Answers write exactly the currency's minor digits (`"1000.00"`, `"1000"` for JPY).
"""

import re
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from sqlalchemy import ColumnElement, Text, case, cast, func, literal

from app.core.errors import InvalidInput

# ISO 4217 active codes with a minor unit; most have 2 minor digits, these differ.
_MINOR_DIGITS_EXCEPTIONS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
_TWO_DIGIT_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN
QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY
TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD YER ZAR ZMW ZWL
""".split()
MINOR_DIGITS: dict[str, int] = {**dict.fromkeys(_TWO_DIGIT_CODES, 2), **_MINOR_DIGITS_EXCEPTIONS}


class AmountPrecision(InvalidInput):
    code = "validation_error"
    default_detail = "The amount has more decimals than its currency allows."


def decimal_text(pattern: str, what: str, example: str) -> Any:
    """A decimal that travels as a JSON string matching `pattern`; a JSON number is refused
    (never rounded)."""
    compiled = re.compile(pattern)

    def parse(value: Any) -> Decimal:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(f'{what} must be a string of digits with an optional decimal part, e.g. "{example}"')
        return Decimal(value)

    return Annotated[
        Decimal,
        BeforeValidator(parse),
        WithJsonSchema({"type": "string", "pattern": pattern, "examples": [example]}),
    ]


AmountText = decimal_text(r"^[0-9]{1,13}(\.[0-9]{1,4})?$", "an amount", "1000.00")
PercentText = decimal_text(r"^[0-9]{1,3}(\.[0-9]{1,4})?$", "a percent", "33.3333")
AreaText = decimal_text(r"^[0-9]{1,10}(\.[0-9]{1,2})?$", "an area", "84.50")


def is_currency(code: str) -> bool:
    return code in MINOR_DIGITS


def quantum(currency: str) -> Decimal:
    """The minor unit: `Decimal("0.01")` for EUR, `Decimal("1")` for JPY."""
    return Decimal(1).scaleb(-MINOR_DIGITS[currency])


def check(amount: Decimal, currency: str, *, field: str = "amount") -> Decimal:
    """`amount` unchanged if the currency can express it exactly, else a 422."""
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > MINOR_DIGITS[currency]:
        raise AmountPrecision(f"`{field}` has more decimals than {currency} allows ({MINOR_DIGITS[currency]}).")
    return amount


def fmt(amount: Decimal, currency: str) -> str:
    """The answer's text: exactly the currency's minor digits."""
    return str(amount.quantize(quantum(currency)))


def share(total: Decimal, percent: Decimal, currency: str) -> Decimal:
    """`total * percent / 100` rounded down to the minor unit."""
    return (total * percent / 100).quantize(quantum(currency), rounding=ROUND_DOWN)


def split(total: Decimal, percents: list[Decimal], currency: str) -> list[Decimal]:
    """The instalments of `total`: each share rounded down, the last one taking the rest, so that
    they sum to `total` exactly."""
    shares = [share(total, percent, currency) for percent in percents[:-1]]
    return [*shares, total - sum(shares, Decimal(0))]


def minor_digits_sql(currency: Any) -> ColumnElement[int]:
    """`MINOR_DIGITS[currency]` in SQL."""
    exceptions = [
        (currency.in_([literal(code) for code, n in sorted(_MINOR_DIGITS_EXCEPTIONS.items()) if n == digits]), digits)
        for digits in sorted(set(_MINOR_DIGITS_EXCEPTIONS.values()))
    ]
    return case(*exceptions, else_=2)


def sql_text(amount: Any, currency: Any) -> ColumnElement[str]:
    """`fmt` in SQL, for bodies PostgreSQL writes: exactly the currency's minor digits (NULL stays NULL)."""
    return cast(func.round(amount, minor_digits_sql(currency)), Text)
