//! Company details: legal name, tax ids, registration address and bank accounts, for client
//! companies and for our own company (`is_my_company`). IBANs are checked with the
//! `iban_validate` crate (length per country, check digits); BICs by the ISO 9362 shape.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::db::sql::{Bind, Sql};
use crate::kernel::access::permissions::Action;
use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::history::{self, Change};
use crate::kernel::kinds::{EventAction, HistoryKind};
use crate::kernel::models::Company;
use crate::kernel::outbox;
use crate::kernel::write::{self as elements, Ctx, Write};
use crate::kernel::{ElementRef, ElementType};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BankAccount {
    pub bank_name: Option<String>,
    pub account_holder: Option<String>,
    /// Electronic form, upper case, no spaces.
    pub iban: String,
    pub bic: Option<String>,
}

#[derive(QueryableByName, Clone, Debug, Default, PartialEq)]
pub struct Requisites {
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub legal_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub vat_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub tax_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub registration_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub registration_address: Option<String>,
    #[diesel(sql_type = Jsonb)]
    pub bank_accounts: Json,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

impl Requisites {
    pub fn accounts(&self) -> Vec<BankAccount> {
        serde_json::from_value(self.bank_accounts.clone()).unwrap_or_default()
    }
}

/// Fields to set; `None` keeps, `Some(None)` clears. `bank_accounts` replaces all when given.
#[derive(Clone, Debug, Default)]
pub struct RequisitesInput {
    pub legal_name: Option<Option<String>>,
    pub vat_id: Option<Option<String>>,
    pub tax_id: Option<Option<String>>,
    pub registration_number: Option<Option<String>>,
    pub registration_address: Option<Option<String>>,
    pub bank_accounts: Option<Vec<BankAccount>>,
}

/// The check of a company's own bank field (`iban`, `bic`), if `field` is one of them.
pub fn bank_field_check(field: &str) -> Option<fn(&str, &str) -> DomainResult<String>> {
    match field {
        "iban" => Some(check_iban),
        "bic" => Some(check_bic),
        _ => None,
    }
}

/// An IBAN in electronic form, or BAD_USER_INPUT naming `field`.
pub fn check_iban(field: &str, raw: &str) -> DomainResult<String> {
    let iban: iban::Iban = raw.trim().to_ascii_uppercase().parse().map_err(|_| {
        DomainError::bad_input(field, format!("`{raw}` is not a valid IBAN (length, country or check digits)"))
    })?;
    Ok(iban::IbanLike::electronic_str(&iban).to_owned())
}

/// A BIC (ISO 9362): 4 letters of bank, 2 of country, 2 letters or digits of location and
/// optionally 3 of branch.
pub fn check_bic(field: &str, raw: &str) -> DomainResult<String> {
    let bic = raw.trim().to_ascii_uppercase();
    let b = bic.as_bytes();
    let ok = (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(DomainError::bad_input(field, format!("`{raw}` is not a BIC such as DEUTDEFF or DEUTDEFF500")));
    }
    Ok(bic)
}

fn text(field: &str, v: Option<String>) -> DomainResult<Option<String>> {
    match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > 1000 => Err(DomainError::bad_input(field, "at most 1,000 characters")),
        other => Ok(other),
    }
}

/// Checks and normalises bank accounts.
pub fn check_accounts(accounts: Vec<BankAccount>) -> DomainResult<Vec<BankAccount>> {
    crate::kernel::limits::check_len("bankAccounts", accounts.len(), crate::kernel::limits::MAX_BANK_ACCOUNTS)?;
    accounts
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let f = |name: &str| format!("bankAccounts[{i}].{name}");
            Ok(BankAccount {
                bank_name: text(&f("bankName"), a.bank_name)?,
                account_holder: text(&f("accountHolder"), a.account_holder)?,
                iban: check_iban(&f("iban"), &a.iban)?,
                bic: a.bic.filter(|b| !b.trim().is_empty()).map(|b| check_bic(&f("bic"), &b)).transpose()?,
            })
        })
        .collect()
}

const COLUMNS: &str = "company_id, legal_name, vat_id, tax_id, registration_number, registration_address, \
                       bank_accounts, updated_at";

pub async fn of(conn: &mut AsyncPgConnection, company_ids: &[i64]) -> DomainResult<Vec<Requisites>> {
    let mut q = Sql::new(format!("SELECT {COLUMNS} FROM requisites WHERE company_id = ANY("));
    q.bind(Bind::Int8s(company_ids.to_vec())).push(")");
    Ok(q.load(conn).await?)
}

/// The requisites a kept company has after a merge: each empty field takes the first value
/// the merged companies have (in `mergeIds` order); bank accounts are all kept, the kept
/// company's first, then each merged company's accounts whose IBAN is not there yet (an
/// account is real money, not a duplicate to drop). More accounts than a company may hold
/// (`MAX_BANK_ACCOUNTS`) is a CONFLICT: the merge would have to drop some.
pub fn fill_from(kept: &Requisites, others: &[Requisites]) -> DomainResult<Requisites> {
    let mut out = kept.clone();
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    let mut accounts = kept.accounts();
    for o in others {
        for (mine, theirs) in [
            (&mut out.legal_name, &o.legal_name),
            (&mut out.vat_id, &o.vat_id),
            (&mut out.tax_id, &o.tax_id),
            (&mut out.registration_number, &o.registration_number),
            (&mut out.registration_address, &o.registration_address),
        ] {
            if blank(mine) && !blank(theirs) {
                mine.clone_from(theirs);
            }
        }
        for a in o.accounts() {
            if !accounts.iter().any(|k| k.iban == a.iban) {
                accounts.push(a);
            }
        }
    }
    if accounts.len() > crate::kernel::limits::MAX_BANK_ACCOUNTS && accounts != kept.accounts() {
        return Err(DomainError::conflict(
            format!(
                "the merged company would have {} bank accounts, more than {}: remove some from the companies first",
                accounts.len(),
                crate::kernel::limits::MAX_BANK_ACCOUNTS
            ),
            Json::Null,
        ));
    }
    if accounts != kept.accounts() {
        out.bank_accounts = serde_json::to_value(accounts).unwrap_or(Json::Array(vec![]));
    }
    Ok(out)
}

/// The requisites a company without any has.
pub fn none_for(company_id: i64) -> Requisites {
    Requisites { company_id, bank_accounts: Json::Array(vec![]), ..Default::default() }
}

pub(crate) fn changes(old: &Requisites, new: &Requisites) -> Vec<Change> {
    let mut out = Vec::new();
    let mut field = |name: &str, a: &Option<String>, b: &Option<String>| {
        if a != b {
            out.push(Change { field: format!("requisites.{name}"), old_value: a.clone(), new_value: b.clone() });
        }
    };
    field("legalName", &old.legal_name, &new.legal_name);
    field("vatId", &old.vat_id, &new.vat_id);
    field("taxId", &old.tax_id, &new.tax_id);
    field("registrationNumber", &old.registration_number, &new.registration_number);
    field("registrationAddress", &old.registration_address, &new.registration_address);
    let ibans = |r: &Requisites| r.accounts().into_iter().map(|a| a.iban).collect::<Vec<_>>();
    if old.bank_accounts != new.bank_accounts {
        out.push(history::list_change("requisites.bankAccounts", &ibans(old), &ibans(new)));
    }
    out
}

/// Stores a company's requisites, replacing what it had.
pub(crate) async fn upsert(conn: &mut AsyncPgConnection, user_id: i64, new: &Requisites) -> DomainResult<()> {
    let opt = |v: &Option<String>| v.clone().map(Bind::Text);
    let mut q = Sql::new(
        "INSERT INTO requisites (company_id, legal_name, vat_id, tax_id, registration_number, \
         registration_address, bank_accounts, updated_by_id) VALUES (",
    );
    q.bind(Bind::Int8(new.company_id));
    for v in [&new.legal_name, &new.vat_id, &new.tax_id, &new.registration_number, &new.registration_address] {
        q.push(", ");
        match opt(v) {
            Some(b) => q.bind(b),
            None => q.push("NULL"),
        };
    }
    q.push(", CAST(")
        .bind(Bind::Text(new.bank_accounts.to_string()))
        .push(" AS jsonb), ")
        .bind(Bind::Int8(user_id))
        .push(
            ") ON CONFLICT (company_id) DO UPDATE SET legal_name = EXCLUDED.legal_name, vat_id = EXCLUDED.vat_id, \
             tax_id = EXCLUDED.tax_id, registration_number = EXCLUDED.registration_number, \
             registration_address = EXCLUDED.registration_address, bank_accounts = EXCLUDED.bank_accounts, \
             updated_by_id = EXCLUDED.updated_by_id, updated_at = now()",
        );
    q.execute(conn).await?;
    Ok(())
}

/// Sets a company's requisites: WRITE on the company (and the settings right for my
/// company), checked before the input is; recorded in its history.
pub async fn set(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    company_id: i64,
    input: RequisitesInput,
) -> DomainResult<Company> {
    let pick = |field: &str, v: Option<Option<String>>, old: &Option<String>| -> DomainResult<Option<String>> {
        match v {
            None => Ok(old.clone()),
            Some(v) => text(field, v),
        }
    };
    let ctx = ctx.clone();
    conn.transaction(async move |conn| {
        let company: Company = elements::lock(conn, &ctx.actor, company_id).await?;
        ctx.actor.rights.check(ElementType::Company, Action::Write, &elements::snapshot(&company)?)?;
        <Company as elements::Element>::check_rights(&ctx.actor, &company)?;
        let accounts = input.bank_accounts.clone().map(check_accounts).transpose()?;
        let old = of(conn, &[company_id]).await?.pop().unwrap_or_else(|| none_for(company_id));
        let new = Requisites {
            company_id,
            legal_name: pick("legalName", input.legal_name, &old.legal_name)?,
            vat_id: pick("vatId", input.vat_id, &old.vat_id)?,
            tax_id: pick("taxId", input.tax_id, &old.tax_id)?,
            registration_number: pick("registrationNumber", input.registration_number, &old.registration_number)?,
            registration_address: pick("registrationAddress", input.registration_address, &old.registration_address)?,
            bank_accounts: match accounts {
                Some(a) => serde_json::to_value(a).map_err(anyhow::Error::from)?,
                None => old.bank_accounts.clone(),
            },
            updated_at: Utc::now(),
        };
        let changed = changes(&old, &new);
        if changed.is_empty() {
            return Ok(company);
        }
        upsert(conn, ctx.actor.user_id, &new).await?;
        // Requisites are part of the company: a new version (so optimistic writes notice),
        // history and an event like any other change of it.
        let mut stamp = Sql::new("UPDATE companies SET version = version + 1, updated_at = now(), updated_by_id = ");
        stamp
            .bind(Bind::Int8(ctx.actor.user_id))
            .push(" WHERE id = ")
            .bind(Bind::Int8(company_id))
            .push(" RETURNING *");
        let saved: Company = stamp.get_result(conn).await?;
        let r = ElementRef { element_type: ElementType::Company, id: company_id };
        history::record(conn, ctx.actor.user_id, r, HistoryKind::Updated, None, &changed).await?;
        let fields = changed.iter().map(|c| c.field.clone()).collect();
        outbox::append(conn, ctx.actor.user_id, r, EventAction::Updated, fields, elements::snapshot(&saved)?).await?;
        Ok(saved)
    })
    .await
}

/// Our own company, if set up.
pub async fn my_company(conn: &mut AsyncPgConnection) -> DomainResult<Option<Company>> {
    let q = Sql::new("SELECT t.* FROM companies t WHERE t.is_my_company");
    let rows: Vec<Company> = q.load(conn).await?;
    Ok(rows.into_iter().next())
}

/// Sets up or changes our own company (the settings right): its title and requisites.
pub async fn update_my_company(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    title: Option<String>,
    requisites: RequisitesInput,
) -> DomainResult<Company> {
    ctx.actor.rights.check_settings()?;
    let company = match my_company(conn).await? {
        Some(c) => match title {
            Some(t) => {
                let t =
                    text("title", Some(t))?.ok_or_else(|| DomainError::bad_input("title", "`title` is required"))?;
                elements::update::<Company>(
                    conn,
                    ctx,
                    c.id,
                    None,
                    Write::fields(move |c: &mut Company| {
                        c.title = t;
                        Ok(())
                    }),
                )
                .await?
            }
            None => c,
        },
        None => {
            let t = text("title", title)?.ok_or_else(|| {
                DomainError::bad_input("title", "name our company: `title` is required the first time")
            })?;
            elements::create::<Company>(
                conn,
                ctx,
                Write::fields(move |c: &mut Company| {
                    c.title = t;
                    c.is_my_company = true;
                    Ok(())
                }),
            )
            .await?
        }
    };
    set(conn, ctx, company.id, requisites).await?;
    Ok(company)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_are_checked_and_normalised() {
        assert_eq!(check_iban("iban", "de44 5001 0517 5407 3249 31").unwrap(), "DE44500105175407324931");
        assert_eq!(check_iban("iban", "GB82 WEST 1234 5698 7654 32").unwrap(), "GB82WEST12345698765432");
        assert!(check_iban("iban", "DE44 5001 0517 5407 3249 32").is_err(), "check digits");
        assert!(check_iban("iban", "DE44 5001 0517 5407 3249").is_err(), "length for DE");
        assert!(check_iban("iban", "XX00 1234").is_err());
    }

    #[test]
    fn bics_have_the_iso_9362_shape() {
        assert_eq!(check_bic("bic", "deutdeff").unwrap(), "DEUTDEFF");
        assert_eq!(check_bic("bic", "DEUTDEFF500").unwrap(), "DEUTDEFF500");
        for bad in ["DEUTDEF", "DEUTDEFF5", "1EUTDEFF", "DEUT-EFF", "DEUTDEFF5000"] {
            assert!(check_bic("bic", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_requisites_fill_blanks_and_keep_every_account() {
        let account = |iban: &str| BankAccount { iban: iban.into(), ..Default::default() };
        let with = |id: i64, legal: Option<&str>, vat: Option<&str>, ibans: &[&str]| Requisites {
            company_id: id,
            legal_name: legal.map(Into::into),
            vat_id: vat.map(Into::into),
            bank_accounts: serde_json::to_value(ibans.iter().map(|i| account(i)).collect::<Vec<_>>()).unwrap(),
            ..Default::default()
        };
        let kept = with(1, Some("Keep"), Some(" "), &["A"]);
        let out =
            fill_from(&kept, &[with(2, Some("Other"), None, &["B", "A"]), with(3, None, Some("DE1"), &["C"])]).unwrap();
        assert_eq!(out.company_id, 1);
        assert_eq!(out.legal_name.as_deref(), Some("Keep"));
        assert_eq!(out.vat_id.as_deref(), Some("DE1"));
        let ibans: Vec<String> = out.accounts().into_iter().map(|a| a.iban).collect();
        assert_eq!(ibans, ["A", "B", "C"]);
        assert_eq!(fill_from(&kept, &[]).unwrap(), kept);
    }

    #[test]
    fn bad_accounts_name_their_field() {
        let e = check_accounts(vec![
            BankAccount { iban: "DE44500105175407324931".into(), ..Default::default() },
            BankAccount { iban: "DE44500105175407324931".into(), bic: Some("nope".into()), ..Default::default() },
        ])
        .unwrap_err();
        assert!(matches!(e, DomainError::BadInput { ref field, .. } if field == "bankAccounts[1].bic"));
    }
}
