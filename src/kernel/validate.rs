//! Value rules shared by every element: money, currencies, e-mails, phones, URLs. Each
//! failure names the input field it came from.

use rust_decimal::Decimal;

use crate::kernel::error::{DomainError, DomainResult};

/// Largest amount accepted: 18 integer digits, what a NUMERIC(20, 2) amount column (and a
/// NUMERIC(22, 4) price column) holds. Far inside Decimal's 28 digits, so sums of many
/// amounts cannot overflow.
pub const MAX_AMOUNT: i64 = 999_999_999_999_999_999;

/// Whether an amount fits an amount column (`-MAX_AMOUNT..=MAX_AMOUNT`).
pub fn within_amount(v: Decimal) -> bool {
    v.abs() <= Decimal::from(MAX_AMOUNT)
}

/// An ISO 4217 code, upper-cased.
pub fn currency(field: &str, code: &str) -> DomainResult<String> {
    let upper = code.trim().to_ascii_uppercase();
    match iso_currency::Currency::from_code(&upper) {
        Some(_) => Ok(upper),
        None => Err(DomainError::bad_input(field, format!("`{code}` is not an ISO 4217 currency code"))),
    }
}

/// A money amount: not negative, at most two decimal places, within the column's range.
pub fn amount(field: &str, value: Decimal) -> DomainResult<Decimal> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(DomainError::bad_input(field, format!("`{field}` must not be negative")));
    }
    if value.normalize().scale() > 2 {
        return Err(DomainError::bad_input(field, format!("`{field}` has more than 2 decimal places")));
    }
    if value > Decimal::from(MAX_AMOUNT) {
        return Err(DomainError::bad_input(field, format!("`{field}` is at most {MAX_AMOUNT}")));
    }
    Ok(value.round_dp(2))
}

/// A catalogue price: like an amount, with up to four decimal places (0.1234 EUR per screw);
/// rows computed from it still round to cents.
pub fn unit_price(field: &str, value: Decimal) -> DomainResult<Decimal> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(DomainError::bad_input(field, format!("`{field}` must not be negative")));
    }
    if value.normalize().scale() > crate::crm::shared::money::PRICE_SCALE {
        return Err(DomainError::bad_input(
            field,
            format!("`{field}` has more than {} decimal places", crate::crm::shared::money::PRICE_SCALE),
        ));
    }
    if value > Decimal::from(MAX_AMOUNT) {
        return Err(DomainError::bad_input(field, format!("`{field}` is at most {MAX_AMOUNT}")));
    }
    Ok(crate::crm::shared::money::price_form(value))
}

/// Characters a one-line text field (a name, title, address, position...) may hold. It also
/// keeps every indexed text column under PostgreSQL's index row limit (2,704 bytes), which
/// would otherwise turn a long value into an internal error.
pub const MAX_TEXT_CHARS: usize = 500;
/// Characters of a long text (`comments`, descriptions), which no index covers.
pub const MAX_LONG_TEXT_CHARS: usize = 100_000;

/// The text columns of an element row (serialised, column names as keys) that are new or
/// changed against `old` fit their limit; BAD_USER_INPUT names the first that does not.
pub fn text_lengths(row: &serde_json::Value, old: Option<&serde_json::Value>) -> DomainResult<()> {
    let Some(fields) = row.as_object() else { return Ok(()) };
    for (column, v) in fields {
        let Some(text) = v.as_str() else { continue };
        if old.and_then(|o| o.get(column)) == Some(v) {
            continue;
        }
        let long = column.ends_with("comments") || column.ends_with("description");
        let max = if long { MAX_LONG_TEXT_CHARS } else { MAX_TEXT_CHARS };
        if text.chars().count() > max {
            let field = crate::kernel::history::camel_case(column);
            return Err(DomainError::bad_input(field.clone(), format!("`{field}` holds at most {max} characters")));
        }
    }
    Ok(())
}

pub fn email(field: &str, raw: &str) -> DomainResult<String> {
    let trimmed = raw.trim();
    if email_address::EmailAddress::is_valid(trimmed) && trimmed.contains('.') {
        Ok(trimmed.to_lowercase())
    } else {
        Err(DomainError::bad_input(field, format!("`{raw}` is not a valid e-mail address")))
    }
}

/// A phone number in E.164; numbers without a country code are read in `region`.
pub fn phone(field: &str, raw: &str, region: phonenumber::country::Id) -> DomainResult<String> {
    let bad = || DomainError::bad_input(field, format!("`{raw}` is not a valid phone number"));
    let parsed = phonenumber::parse(Some(region), raw.trim()).map_err(|_| bad())?;
    if !parsed.is_valid() {
        return Err(bad());
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// An http(s) URL; a bare host name gets `https://`.
pub fn web(field: &str, raw: &str) -> DomainResult<String> {
    let trimmed = raw.trim();
    let candidate = if trimmed.contains("://") { trimmed.to_owned() } else { format!("https://{trimmed}") };
    match url::Url::parse(&candidate) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| h.contains('.') || h == "localhost") =>
        {
            Ok(u.to_string().trim_end_matches('/').to_lowercase())
        }
        _ => Err(DomainError::bad_input(field, format!("`{raw}` is not a valid URL"))),
    }
}

pub fn required_text(field: &str, value: Option<&str>) -> DomainResult<()> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(DomainError::bad_input(field, format!("`{field}` is required"))),
    }
}

pub fn probability(field: &str, value: i32) -> DomainResult<i32> {
    if (0..=100).contains(&value) {
        Ok(value)
    } else {
        Err(DomainError::bad_input(field, format!("`{field}` must be between 0 and 100")))
    }
}

pub fn time_zone(field: &str, tz: &str) -> DomainResult<String> {
    tz.trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| DomainError::bad_input(field, format!("`{tz}` is not an IANA time zone such as Europe/Berlin")))
}

/// A name or label of settings objects (roles, departments, pipelines, fields): trimmed,
/// 1 to 255 characters.
pub fn name(field: &str, raw: &str) -> DomainResult<String> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 255 {
        return Err(DomainError::bad_input(field, format!("`{field}` must be 1 to 255 characters")));
    }
    Ok(n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies() {
        assert_eq!(currency("currency", "eur").unwrap(), "EUR");
        assert!(currency("currency", "EURO").is_err());
        assert!(currency("currency", "XYZ").is_err());
    }

    #[test]
    fn amounts() {
        assert!(amount("opportunity", "-1".parse().unwrap()).is_err());
        assert!(amount("opportunity", "1.005".parse().unwrap()).is_err());
        assert_eq!(amount("opportunity", "1.50".parse().unwrap()).unwrap().to_string(), "1.50");
        assert!(amount("opportunity", "1e19".parse::<Decimal>().unwrap_or(Decimal::MAX)).is_err());
        assert!(amount("opportunity", Decimal::MAX).is_err());
        assert!(amount("opportunity", Decimal::from(MAX_AMOUNT)).is_ok());
    }

    #[test]
    fn unit_prices_take_four_places() {
        assert_eq!(unit_price("price", "0.1234".parse().unwrap()).unwrap().to_string(), "0.1234");
        assert!(unit_price("price", "0.12345".parse().unwrap()).is_err());
        assert!(unit_price("price", "-0.01".parse().unwrap()).is_err());
        assert!(unit_price("price", Decimal::MAX).is_err());
    }

    #[test]
    fn phones_normalise_to_e164() {
        let de = phonenumber::country::Id::DE;
        assert_eq!(phone("p", "030 1234567", de).unwrap(), "+49301234567");
        assert_eq!(phone("p", "+1 (415) 555-2671", de).unwrap(), "+14155552671");
        assert!(phone("p", "12", de).is_err());
        assert!(phone("p", "call me", de).is_err());
    }

    #[test]
    fn emails_and_urls() {
        assert_eq!(email("e", " Anna@Example.COM ").unwrap(), "anna@example.com");
        assert!(email("e", "anna@").is_err());
        assert!(email("e", "not an email").is_err());
        assert_eq!(web("w", "example.com").unwrap(), "https://example.com");
        assert!(web("w", "ftp://example.com").is_err());
        assert!(web("w", "not a url").is_err());
    }

    #[test]
    fn text_lengths_name_the_first_long_field_and_spare_unchanged_ones() {
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let row = serde_json::json!({ "title": long, "comments": long, "first_name": "Anna" });
        match text_lengths(&row, None) {
            Err(DomainError::BadInput { field, .. }) => assert_eq!(field, "title"),
            other => panic!("{other:?}"),
        }
        // A value stored before the limit may stay while other fields change.
        assert!(text_lengths(&row, Some(&serde_json::json!({ "title": long }))).is_ok());
        let ok = serde_json::json!({ "title": "x".repeat(MAX_TEXT_CHARS), "comments": long });
        assert!(text_lengths(&ok, None).is_ok());
    }
}
