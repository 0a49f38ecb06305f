"""Property-based tests of the schedule's arithmetic over random prices, plans and payments."""

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.services.properties import money
from app.services.unit_sales import schedule
from app.services.unit_sales.models import Instalment

CURRENCIES = st.sampled_from(["EUR", "JPY", "KWD", "CLF"])


@st.composite
def priced_plans(draw: st.DrawFn) -> tuple[str, Decimal, list[Decimal]]:
    currency = draw(CURRENCIES)
    digits = money.MINOR_DIGITS[currency]
    minor_units = draw(st.integers(min_value=1, max_value=10**13 * 10**digits - 1))
    price = Decimal(minor_units).scaleb(-digits)
    # Percents with up to 4 decimals that sum to exactly 100, each > 0.
    parts = draw(st.integers(min_value=1, max_value=24))
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=999_999), min_size=parts - 1, max_size=parts - 1)))
    bounds = [0, *cuts, 1_000_000]
    percents = [Decimal(b - a).scaleb(-4) for a, b in itertools.pairwise(bounds)]
    return currency, price, percents


@given(priced_plans())
def test_instalments_sum_to_the_price_each_in_minor_units(plan: tuple[str, Decimal, list[Decimal]]) -> None:
    currency, price, percents = plan
    assert sum(percents) == 100
    amounts = money.split(price, percents, currency)
    assert sum(amounts) == price
    assert all(amount >= 0 for amount in amounts)
    for amount, percent in zip(amounts[:-1], percents[:-1], strict=True):
        exact = price * percent / 100
        assert amount <= exact < amount + money.quantum(currency)
    assert money.fmt(price, currency) == str(price.quantize(money.quantum(currency)))


@given(priced_plans(), st.lists(st.integers(min_value=1, max_value=10**6), max_size=30), st.data())
def test_paid_plus_balance_is_the_total_whatever_payments_arrive(
    plan: tuple[str, Decimal, list[Decimal]], weights: list[int], data: st.DataObject
) -> None:
    currency, price, percents = plan
    amounts = money.split(price, percents, currency)
    booked_on = date(2026, 12, 7)
    lines = [
        Instalment(
            id=n,
            position=n,
            trigger="booking",
            offset_days=data.draw(st.integers(min_value=0, max_value=3650)),
            due_on=booked_on + timedelta(days=n),
            amount=amount,
            paid=Decimal(0),
        )
        for n, amount in enumerate(amounts, start=1)
    ]
    for weight in weights:
        balance = sum(line.amount - line.paid for line in lines)
        if balance == 0:
            break
        payment = min(balance, Decimal(weight).scaleb(-money.MINOR_DIGITS[currency]) * 997)
        shares = schedule.allocate(lines, payment, completed_on=None)
        assert sum(part for _, part in shares) == payment
        for line, part in shares:
            line.paid += part
        figures = schedule.figures(lines, completed_on=None, today=booked_on)
        assert figures.paid + figures.balance == figures.total == price
        assert all(0 <= line.paid <= line.amount for line in lines)
        # Earlier due dates are filled first: after the first open line, nothing is paid yet.
        open_lines = [n for n, line in enumerate(lines) if line.paid < line.amount]
        if open_lines:
            assert all(line.paid == 0 for line in lines[open_lines[0] + 1 :])
