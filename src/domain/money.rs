//! Product-row maths (DOMAIN.md "Deals"): exact decimals, amounts rounded to the currency's
//! minor unit (2 places), half away from zero. Pure functions, no database.

use rust_decimal::{Decimal, RoundingStrategy};

use super::error::{DomainError, DomainResult};

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

impl std::ops::Add for Line {
    type Output = Line;
    fn add(self, o: Line) -> Line {
        Line { net: self.net + o.net, tax: self.tax + o.tax, gross: self.gross + o.gross }
    }
}

/// Checks a row's figures, naming the offending field under `prefix` (e.g. `rows[2]`).
pub fn check(prefix: &str, row: &RowInput) -> DomainResult<()> {
    let bad = |f: &str, m: &str| Err(DomainError::bad_input(format!("{prefix}.{f}"), m.to_owned()));
    let hundred = Decimal::ONE_HUNDRED;
    if row.unit_price.is_sign_negative() && !row.unit_price.is_zero() {
        return bad("unitPrice", "the unit price must not be negative");
    }
    if row.unit_price.normalize().scale() > 2 {
        return bad("unitPrice", "the unit price has more than 2 decimal places");
    }
    if row.quantity <= Decimal::ZERO {
        return bad("quantity", "the quantity must be greater than zero");
    }
    if row.quantity.normalize().scale() > 4 {
        return bad("quantity", "the quantity has more than 4 decimal places");
    }
    if row.tax_rate.is_sign_negative() && !row.tax_rate.is_zero() || row.tax_rate > hundred {
        return bad("taxRate", "the tax rate must be between 0 and 100");
    }
    match row.discount {
        Discount::None => {}
        Discount::Percent(p) if p.is_sign_negative() && !p.is_zero() || p > hundred => {
            return bad("discountPercent", "the discount must be between 0 and 100 percent");
        }
        Discount::PerUnit(a) if a.is_sign_negative() && !a.is_zero() => {
            return bad("discountAmount", "the discount must not be negative");
        }
        Discount::PerUnit(a) if a > row.unit_price => {
            return bad("discountAmount", "the discount is larger than the unit price");
        }
        Discount::PerUnit(a) if a.normalize().scale() > 2 => {
            return bad("discountAmount", "the discount has more than 2 decimal places");
        }
        _ => {}
    }
    Ok(())
}

/// The line amounts of one row.
pub fn line(row: &RowInput) -> Line {
    let unit = match row.discount {
        Discount::None => row.unit_price,
        Discount::Percent(p) => row.unit_price * (Decimal::ONE_HUNDRED - p) / Decimal::ONE_HUNDRED,
        Discount::PerUnit(a) => row.unit_price - a,
    };
    let amount = round_cents(unit * row.quantity);
    let rate = row.tax_rate / Decimal::ONE_HUNDRED;
    if row.tax_included {
        let net = round_cents(amount / (Decimal::ONE + rate));
        Line { net, tax: amount - net, gross: amount }
    } else {
        let tax = round_cents(amount * rate);
        Line { net: amount, tax, gross: amount + tax }
    }
}

/// Totals are the sums of the rounded lines.
pub fn totals(lines: impl IntoIterator<Item = Line>) -> Line {
    lines.into_iter().fold(Line::default(), |a, b| a + b)
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
            // DOMAIN.md: 3 × 100.00 at 10 % off, 19 % tax excluded.
            (row("100.00", "3", Discount::Percent(d("10")), "19", false), "270.00", "51.30", "321.30"),
            // DOMAIN.md: 2 × 119.00 tax included with 11.90 off each.
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
        for (i, (r, net, tax, gross)) in cases.iter().enumerate() {
            let l = line(r);
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
        let t = totals([line(&r), line(&r)]);
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
}
