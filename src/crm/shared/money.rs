//! Product-row maths: exact decimals, amounts rounded to the currency's
//! minor unit (2 places), half away from zero. Pure functions, no database.
//!
//! Every figure is range-checked (`check`) before any arithmetic, and the arithmetic is
//! checked too: a line or total beyond what an amount column holds is BAD_USER_INPUT, never
//! an overflow. Within the ranges, a line's unit price × quantity is exact (at most 18
//! integer and 8 decimal digits, inside Decimal's 28).

use rust_decimal::{Decimal, RoundingStrategy};

use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::validate::{self, MAX_AMOUNT};

/// Decimal places of unit prices and per-unit discount amounts: 0.1234 EUR per screw is a
/// real price (columns NUMERIC(22, 4)).
pub const PRICE_SCALE: u32 = 4;
/// Decimal places of quantities (NUMERIC(20, 4)).
pub const QUANTITY_SCALE: u32 = 4;
/// Decimal places of a discount percentage (NUMERIC(7, 4)).
pub const DISCOUNT_PERCENT_SCALE: u32 = 4;
/// Decimal places of a tax rate in percent (NUMERIC(5, 2)).
pub const TAX_RATE_SCALE: u32 = 2;
/// Largest quantity of one row: a trillion units, far above any order and well inside the
/// column's 16 integer digits.
pub const MAX_QUANTITY: i64 = 999_999_999_999;

/// A unit price or per-unit discount as stored and shown: at least cents, no trailing zeros
/// beyond them ("100" → "100.00", "0.1230" → "0.123").
pub fn price_form(v: Decimal) -> Decimal {
    let mut n = v.normalize();
    if n.scale() < 2 {
        n.rescale(2);
    }
    n
}

/// Rounds an amount to cents, half away from zero, always with two decimal places.
pub fn round_cents(v: Decimal) -> Decimal {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r
}

/// The discount on one row: a percentage of the unit price or an amount per unit, both in
/// the unit price's own terms (gross when tax is included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discount {
    None,
    Percent(Decimal),
    PerUnit(Decimal),
}

/// One row's figures as entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowInput {
    pub unit_price: Decimal,
    pub quantity: Decimal,
    pub discount: Discount,
    pub tax_rate: Decimal,
    pub tax_included: bool,
}

/// A row's rounded line amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Line {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

impl Line {
    /// The sum of two lines; None outside Decimal's range.
    pub fn checked_add(self, o: Line) -> Option<Line> {
        Some(Line {
            net: self.net.checked_add(o.net)?,
            tax: self.tax.checked_add(o.tax)?,
            gross: self.gross.checked_add(o.gross)?,
        })
    }
}

/// A figure within `0..=max` (or above zero when `positive`) with at most `scale` decimal
/// places. `what` starts the message ("the unit price").
fn figure(field: String, what: &str, v: Decimal, positive: bool, max: Decimal, scale: u32) -> DomainResult<()> {
    if positive && v <= Decimal::ZERO {
        return Err(DomainError::bad_input(field, format!("{what} must be greater than zero")));
    }
    if v.is_sign_negative() && !v.is_zero() {
        return Err(DomainError::bad_input(field, format!("{what} must not be negative")));
    }
    if v > max {
        return Err(DomainError::bad_input(field, format!("{what} is at most {max}")));
    }
    if v.normalize().scale() > scale {
        return Err(DomainError::bad_input(field, format!("{what} has more than {scale} decimal places")));
    }
    Ok(())
}

/// Checks a row's figures, naming the offending field under `prefix` (e.g. `rows[2]`).
pub fn check(prefix: &str, row: &RowInput) -> DomainResult<()> {
    let f = |name: &str| format!("{prefix}.{name}");
    let hundred = Decimal::ONE_HUNDRED;
    figure(f("unitPrice"), "the unit price", row.unit_price, false, Decimal::from(MAX_AMOUNT), PRICE_SCALE)?;
    figure(f("quantity"), "the quantity", row.quantity, true, Decimal::from(MAX_QUANTITY), QUANTITY_SCALE)?;
    tax_rate(&f("taxRate"), row.tax_rate)?;
    match row.discount {
        Discount::None => {}
        Discount::Percent(p) => {
            figure(f("discountPercent"), "the discount in percent", p, false, hundred, DISCOUNT_PERCENT_SCALE)?;
        }
        Discount::PerUnit(a) => {
            figure(f("discountAmount"), "the discount", a, false, Decimal::from(MAX_AMOUNT), PRICE_SCALE)?;
            if a > row.unit_price {
                return Err(DomainError::bad_input(f("discountAmount"), "the discount is larger than the unit price"));
            }
        }
    }
    Ok(())
}

/// A tax rate in percent: 0 to 100 with at most two decimal places.
pub fn tax_rate(field: &str, v: Decimal) -> DomainResult<Decimal> {
    figure(field.to_owned(), "the tax rate", v, false, Decimal::ONE_HUNDRED, TAX_RATE_SCALE)?;
    Ok(v)
}

/// The line amounts of one row checked by `check`. A line whose amount leaves the range of
/// an amount column is BAD_USER_INPUT on `<prefix>.quantity`.
pub fn line(prefix: &str, row: &RowInput) -> DomainResult<Line> {
    let too_large = || {
        DomainError::bad_input(
            format!("{prefix}.quantity"),
            format!("the line amount (unit price × quantity, with tax) is above {MAX_AMOUNT}"),
        )
    };
    let hundred = Decimal::ONE_HUNDRED;
    let unit = match row.discount {
        Discount::None => Some(row.unit_price),
        Discount::Percent(p) => hundred
            .checked_sub(p)
            .and_then(|rest| row.unit_price.checked_mul(rest))
            .and_then(|v| v.checked_div(hundred)),
        Discount::PerUnit(a) => row.unit_price.checked_sub(a),
    }
    .ok_or_else(too_large)?;
    let amount = round_cents(unit.checked_mul(row.quantity).ok_or_else(too_large)?);
    let rate = row.tax_rate.checked_div(hundred).ok_or_else(too_large)?;
    let line = if row.tax_included {
        let net = round_cents(amount.checked_div(Decimal::ONE + rate).ok_or_else(too_large)?);
        Line { net, tax: amount.checked_sub(net).ok_or_else(too_large)?, gross: amount }
    } else {
        let tax = round_cents(amount.checked_mul(rate).ok_or_else(too_large)?);
        Line { net: amount, tax, gross: amount.checked_add(tax).ok_or_else(too_large)? }
    };
    validate::within_amount(line.gross).then_some(line).ok_or_else(too_large)
}

/// Totals are the sums of the rounded lines; None outside Decimal's range (only reachable
/// with far more rows than a list may hold).
pub fn totals(lines: impl IntoIterator<Item = Line>) -> Option<Line> {
    lines.into_iter().try_fold(Line::default(), Line::checked_add)
}

/// The totals of a list being stored: they become the owner's opportunity, so they must fit
/// an amount column (BAD_USER_INPUT on `rows` otherwise).
pub fn list_totals(lines: impl IntoIterator<Item = Line>) -> DomainResult<Line> {
    totals(lines).filter(|t| validate::within_amount(t.gross)).ok_or_else(|| {
        DomainError::bad_input("rows", format!("the rows' gross total is above {MAX_AMOUNT}; split the list"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn row(price: &str, qty: &str, discount: Discount, rate: &str, included: bool) -> RowInput {
        RowInput { unit_price: d(price), quantity: d(qty), discount, tax_rate: d(rate), tax_included: included }
    }

    #[test]
    fn hand_computed_lines() {
        // (row, net, tax, gross), computed by hand.
        let cases = [
            // The worked examples of the product-row rules: 3 × 100.00 at 10 % off, 19 % tax excluded.
            (row("100.00", "3", Discount::Percent(d("10")), "19", false), "270.00", "51.30", "321.30"),
            // 2 × 119.00 tax included with 11.90 off each.
            (row("119.00", "2", Discount::PerUnit(d("11.90")), "19", true), "180.00", "34.20", "214.20"),
            // No discount, no tax.
            (row("9.99", "3", Discount::None, "0", false), "29.97", "0.00", "29.97"),
            // Half a cent rounds away from zero: 0.125 → 0.13.
            (row("0.25", "0.5", Discount::None, "0", false), "0.13", "0.00", "0.13"),
            // Tax of 0.005 rounds up: 0.05 × 10 % = 0.005 → 0.01.
            (row("0.05", "1", Discount::None, "10", false), "0.05", "0.01", "0.06"),
            // Percent discount leaving half a cent: 10.01 × 0.5 = 5.005 → 5.01.
            (row("10.01", "1", Discount::Percent(d("50")), "0", false), "5.01", "0.00", "5.01"),
            // Tax included, net rounds: 10.00 / 1.07 = 9.3457… → 9.35, tax 0.65.
            (row("10.00", "1", Discount::None, "7", true), "9.35", "0.65", "10.00"),
            // Fractional quantity: 2.5 kg × 3.99 = 9.975 → 9.98; tax 20 % = 1.996 → 2.00.
            (row("3.99", "2.5", Discount::None, "20", false), "9.98", "2.00", "11.98"),
            // A discount equal to the price gives a free line.
            (row("5.00", "4", Discount::PerUnit(d("5.00")), "19", false), "0.00", "0.00", "0.00"),
            // 100 % off.
            (row("80.00", "1", Discount::Percent(d("100")), "19", true), "0.00", "0.00", "0.00"),
            // Tax included with a percent discount: 59.50 × 0.8 = 47.60 gross; / 1.19 = 40.00.
            (row("59.50", "1", Discount::Percent(d("20")), "19", true), "40.00", "7.60", "47.60"),
        ];
        assert_lines(&cases);
    }

    /// Each row is valid and comes to the (net, tax, gross) given.
    fn assert_lines(cases: &[(RowInput, &str, &str, &str)]) {
        for (i, (r, net, tax, gross)) in cases.iter().enumerate() {
            check("rows[0]", r).unwrap();
            let l = line("rows[0]", r).unwrap();
            assert_eq!(
                (l.net.to_string(), l.tax.to_string(), l.gross.to_string()),
                (net.to_string(), tax.to_string(), gross.to_string()),
                "case {i}"
            );
        }
    }

    #[test]
    fn totals_sum_rounded_lines() {
        // Each line rounds 0.125 up to 0.13; the total is 0.26, not round(0.25).
        let r = row("0.25", "0.5", Discount::None, "0", false);
        let l = line("rows[0]", &r).unwrap();
        let t = totals([l, l]).unwrap();
        assert_eq!(t.gross.to_string(), "0.26");
    }

    #[test]
    fn checks_reject_impossible_rows() {
        assert!(check("rows[0]", &row("10", "-1", Discount::None, "0", false)).is_err());
        assert!(check("rows[0]", &row("10", "0", Discount::None, "0", false)).is_err());
        assert!(check("rows[0]", &row("10", "1", Discount::PerUnit(d("10.01")), "0", false)).is_err());
        assert!(check("rows[0]", &row("10", "1", Discount::Percent(d("101")), "0", false)).is_err());
        assert!(check("rows[0]", &row("-1", "1", Discount::None, "0", false)).is_err());
        assert!(check("rows[0]", &row("10", "1", Discount::None, "101", false)).is_err());
        match check("rows[3]", &row("10", "-2", Discount::None, "0", false)) {
            Err(DomainError::BadInput { field, .. }) => assert_eq!(field, "rows[3].quantity"),
            other => panic!("{other:?}"),
        }
        assert!(check("rows[0]", &row("10", "1", Discount::PerUnit(d("10")), "19", true)).is_ok());
    }

    fn field_of(r: DomainResult<impl std::fmt::Debug>) -> String {
        match r {
            Err(DomainError::BadInput { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn prices_keep_cents_and_up_to_four_places() {
        for (given, shown) in [("100", "100.00"), ("9.9", "9.90"), ("0.1230", "0.123"), ("0.1234", "0.1234")] {
            assert_eq!(price_form(d(given)).to_string(), shown);
        }
    }

    #[test]
    fn four_place_prices_round_lines_to_cents() {
        let cases = [
            // 0.1234 per screw: 1,000 screws cost 123.40; 3 cost 0.3702 → 0.37.
            (row("0.1234", "1000", Discount::None, "0", false), "123.40", "0.00", "123.40"),
            (row("0.1234", "3", Discount::None, "19", false), "0.37", "0.07", "0.44"),
            // 0.0025 × 2 = half a cent, away from zero; 0.0004 × 10 is under it.
            (row("0.0025", "2", Discount::None, "0", false), "0.01", "0.00", "0.01"),
            (row("0.0004", "10", Discount::None, "0", false), "0.00", "0.00", "0.00"),
            // A four-place discount per unit: (0.1234 − 0.0234) × 10 = 1.00.
            (row("0.1234", "10", Discount::PerUnit(d("0.0234")), "0", false), "1.00", "0.00", "1.00"),
            // Four-place quantity and percent: 0.1234 × 2.5 × 87.5 % = 0.2699… → 0.27.
            (row("0.1234", "2.5", Discount::Percent(d("12.5")), "0", true), "0.27", "0.00", "0.27"),
        ];
        assert_lines(&cases);
        assert_eq!(field_of(check("rows[0]", &row("0.12345", "1", Discount::None, "0", false))), "rows[0].unitPrice");
        assert_eq!(field_of(check("rows[0]", &row("1", "0.00001", Discount::None, "0", false))), "rows[0].quantity");
        let five_places = row("1", "1", Discount::PerUnit(d("0.00001")), "0", false);
        assert_eq!(field_of(check("rows[0]", &five_places)), "rows[0].discountAmount");
        let percent = row("1", "1", Discount::Percent(d("1.00001")), "0", false);
        assert_eq!(field_of(check("rows[0]", &percent)), "rows[0].discountPercent");
        assert_eq!(field_of(check("rows[0]", &row("1", "1", Discount::None, "19.125", false))), "rows[0].taxRate");
    }

    #[test]
    fn figures_near_the_limits_are_refused_not_overflowed() {
        // The defect: Decimal's largest value × 2 panicked in the multiplication.
        let huge = row("79228162514264337593543950335", "2", Discount::None, "0", false);
        assert_eq!(field_of(check("rows[0]", &huge)), "rows[0].unitPrice");
        let max = Decimal::from(MAX_AMOUNT);
        let mut r = row("1", "1", Discount::None, "0", false);
        r.unit_price = max;
        check("rows[0]", &r).unwrap();
        assert_eq!(line("rows[0]", &r).unwrap().gross, round_cents(max));
        // In range one by one, too large together: refused, whichever step overflows.
        r.quantity = Decimal::from(MAX_QUANTITY);
        check("rows[0]", &r).unwrap();
        assert_eq!(field_of(line("rows[0]", &r)), "rows[0].quantity");
        r.quantity = d("2");
        assert_eq!(field_of(line("rows[0]", &r)), "rows[0].quantity");
        // Tax pushes the gross over the limit.
        r.quantity = Decimal::ONE;
        r.tax_rate = d("19");
        assert_eq!(field_of(line("rows[0]", &r)), "rows[0].quantity");
        r.tax_included = true;
        assert!(line("rows[0]", &r).is_ok(), "tax included stays within the gross");
        r.discount = Discount::Percent(d("99.9999"));
        assert!(line("rows[0]", &r).is_ok());
        let too_many = row("1", "1000000000000", Discount::None, "0", false);
        assert_eq!(field_of(check("rows[0]", &too_many)), "rows[0].quantity");
        // Totals: within Decimal even for a full list of maximal lines, refused as a list.
        let big = Line { net: max, tax: Decimal::ZERO, gross: max };
        assert!(totals(std::iter::repeat_n(big, crate::kernel::limits::MAX_PRODUCT_ROWS)).is_some());
        assert_eq!(field_of(list_totals([big, big])), "rows");
        assert!(list_totals([big]).is_ok());
        let at_max = Line { net: Decimal::MAX, tax: Decimal::ZERO, gross: Decimal::MAX };
        assert!(totals([at_max, at_max]).is_none());
    }
}
