//! Which field each column of an imported file fills.
//!
//! Files come from other CRMs, address books and hand-made spreadsheets, in English or
//! German, so headers are matched loosely: case, spaces, punctuation and umlaut spellings
//! are ignored, and common labels are known besides the GraphQL names. An export by this
//! server writes `header_for` names, so its files import back without a mapping. This
//! module knows nothing of the rest of the crate: the caller turns targets into inputs.

/// The element an import creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementKind {
    Lead,
    Contact,
    Company,
    Deal,
}

impl ElementKind {
    /// With its article, for messages.
    fn noun(self) -> &'static str {
        match self {
            Self::Lead => "a lead",
            Self::Contact => "a contact",
            Self::Company => "a company",
            Self::Deal => "a deal",
        }
    }

    /// Deals reach people through their contacts and have no phones or e-mails of their own.
    fn has_comms(self) -> bool {
        self != Self::Deal
    }

    /// The "<kind> ID" header that an export of this kind names its own id by.
    fn own_id(self) -> &'static str {
        match self {
            Self::Lead => "leadid",
            Self::Contact => "contactid",
            Self::Company => "companyid",
            Self::Deal => "dealid",
        }
    }
}

pub use crate::crm::shared::communications::CommKind;

/// The header word of a communication kind (`phone (mobile)`).
fn comm_word(kind: CommKind) -> &'static str {
    match kind {
        CommKind::Phone => "phone",
        CommKind::Email => "email",
        CommKind::Web => "web",
        CommKind::Im => "im",
    }
}

/// A value type of `kind` named in a header, in any case.
fn comm_value_type(kind: CommKind, name: &str) -> Option<&'static str> {
    kind.value_types().iter().copied().find(|t| t.eq_ignore_ascii_case(name))
}

/// What a column fills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A GraphQL input field name of the element's input, e.g. "firstName".
    Field(&'static str),
    /// One more communication of that kind and type; a row may bring several.
    Comm { kind: CommKind, value_type: &'static str },
    /// A custom field, by code.
    Custom(String),
    /// The id the element had where it came from, to find it again on a re-import.
    ExternalId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomFieldInfo {
    pub code: String,
    pub label: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// One per column, `None` where the column is ignored.
    pub targets: Vec<Option<Target>>,
    /// Named columns that fill nothing, for the person to check they lose nothing they need.
    pub unknown: Vec<String>,
}

const LEAD_FIELDS: &[&str] = &[
    "title",
    "honorific",
    "firstName",
    "middleName",
    "lastName",
    "birthdate",
    "position",
    "companyTitle",
    "address",
    "sourceId",
    "sourceDescription",
    "statusId",
    "statusDescription",
    "opportunity",
    "currency",
    "comments",
    "assignedToId",
    "opened",
    "utmSource",
    "utmMedium",
    "utmCampaign",
    "utmContent",
    "utmTerm",
];

const CONTACT_FIELDS: &[&str] = &[
    "honorific",
    "firstName",
    "middleName",
    "lastName",
    "photoUrl",
    "position",
    "typeId",
    "sourceId",
    "sourceDescription",
    "birthdate",
    "address",
    "comments",
    "assignedToId",
    "opened",
];

const COMPANY_FIELDS: &[&str] = &[
    "title",
    "typeId",
    "industryId",
    "employeesId",
    "revenue",
    "currency",
    "address",
    "comments",
    "assignedToId",
    "opened",
    "legalName",
    "vatId",
    "taxId",
    "registrationAddress",
    "bankName",
    "iban",
    "bic",
];

const DEAL_FIELDS: &[&str] = &[
    "title",
    "pipelineId",
    "stageId",
    "probability",
    "opportunity",
    "currency",
    "typeId",
    "sourceId",
    "beginDate",
    "closeDate",
    "comments",
    "assignedToId",
    "opened",
];

/// Labels people put over a column, normalised, with the fields each may mean in order of
/// preference: the first the element kind has wins ("name" is a person's last name, but a
/// company's or deal's title).
const ALIASES: &[(&[&str], &[&str])] = &[
    (&["givenname", "vorname"], &["firstName"]),
    (&["surname", "familyname", "nachname", "familienname"], &["lastName"]),
    (&["name"], &["lastName", "title"]),
    (&["zweitervorname", "secondname"], &["middleName"]),
    (&["salutation", "anrede"], &["honorific"]),
    (&["titel"], &["title"]),
    (&["jobtitle", "role", "funktion", "berufsbezeichnung", "stellung"], &["position"]),
    (&["birthday", "dateofbirth", "geburtstag", "geburtsdatum"], &["birthdate"]),
    (&["adresse", "anschrift", "postaladdress", "postanschrift"], &["address"]),
    (
        &["comment", "notes", "note", "kommentar", "kommentare", "bemerkung", "bemerkungen", "notiz", "notizen"],
        &["comments"],
    ),
    (&["source", "quelle", "leadsource"], &["sourceId"]),
    (&["quellenbeschreibung", "sourceinformation", "sourceinfo"], &["sourceDescription"]),
    (&["status", "leadstatus"], &["statusId"]),
    (&["statusbeschreibung", "statusinformation", "statusinfo"], &["statusDescription"]),
    (&["stage", "dealstage", "phase", "stufe"], &["stageId"]),
    (&["pipeline", "salespipeline", "trichter"], &["pipelineId"]),
    (&["amount", "dealvalue", "value", "betrag", "summe", "wert", "volumen"], &["opportunity"]),
    (&["waehrung"], &["currency"]),
    (&["responsible", "assignedto", "owner", "verantwortlich", "verantwortlicher", "zustaendig"], &["assignedToId"]),
    (&["umsatz", "annualrevenue", "jahresumsatz"], &["revenue"]),
    (&["industry", "branche"], &["industryId"]),
    (&["type", "typ", "art"], &["typeId"]),
    (&["employees", "numberofemployees", "mitarbeiter", "mitarbeiterzahl", "anzahlmitarbeiter"], &["employeesId"]),
    (&["rechtlichername", "firmierung"], &["legalName"]),
    (&["vat", "vatnumber", "ustid", "ustidnr", "umsatzsteuerid"], &["vatId"]),
    (&["taxnumber", "steuernummer", "steuerid"], &["taxId"]),
    (&["registeredaddress", "registrationaddress", "sitz", "firmensitz"], &["registrationAddress"]),
    (&["bank", "bankname", "kreditinstitut"], &["bankName"]),
    (&["swift", "swiftcode", "swiftbic"], &["bic"]),
    (&["wahrscheinlichkeit"], &["probability"]),
    (&["startdate", "start", "beginn", "startdatum", "beginndatum"], &["beginDate"]),
    (&["expectedclosedate", "closingdate", "abschlussdatum", "enddatum"], &["closeDate"]),
    (&["photo", "foto", "picture", "bild"], &["photoUrl"]),
    (&["public", "availabletoeveryone", "oeffentlich"], &["opened"]),
];

/// A column's name as the column of an element's own company: a lead's company name, a
/// company's title; a contact or deal links companies by id, which this module cannot fill.
const COMPANY_NAMES: &[&str] =
    &["company", "companyname", "firma", "unternehmen", "firmenname", "organisation", "organization"];

/// Names of a column of ids from elsewhere, besides "<kind> ID".
const EXTERNAL_ID_NAMES: &[&str] = &["id", "externalid", "externeid", "kundennummer", "kundennr"];

/// Names of a communication column that say its kind and type at once.
const COMM_ALIASES: &[(&[&str], CommKind, &str)] = &[
    (
        &[
            "phone",
            "telephone",
            "tel",
            "telefon",
            "telefonnummer",
            "phonenumber",
            "telephonenumber",
            "telnr",
            "rufnummer",
        ],
        CommKind::Phone,
        "WORK",
    ),
    (
        &["mobile", "mobil", "handy", "mobiltelefon", "mobilnummer", "handynummer", "cell", "cellphone", "mobilephone"],
        CommKind::Phone,
        "MOBILE",
    ),
    (&["fax", "telefax", "faxnummer", "faxnumber"], CommKind::Phone, "FAX"),
    (&["email", "mail", "emailadresse", "emailaddress", "mailadresse"], CommKind::Email, "WORK"),
    (&["web", "website", "webseite", "homepage", "internetseite", "url", "internet", "www"], CommKind::Web, "WORK"),
    (&["im", "messenger", "instantmessenger"], CommKind::Im, "OTHER"),
    (&["skype"], CommKind::Im, "SKYPE"),
    (&["telegram"], CommKind::Im, "TELEGRAM"),
    (&["whatsapp"], CommKind::Im, "WHATSAPP"),
    (&["viber"], CommKind::Im, "VIBER"),
    (&["linkedin"], CommKind::Web, "LINKEDIN"),
    (&["facebook"], CommKind::Web, "FACEBOOK"),
    (&["instagram"], CommKind::Web, "INSTAGRAM"),
    (&["twitter"], CommKind::Web, "TWITTER"),
];

/// Words that name a communication kind inside a typed header such as "work phone" or
/// "E-Mail (privat)".
const COMM_WORDS: &[(&str, CommKind)] = &[
    ("phone", CommKind::Phone),
    ("telephone", CommKind::Phone),
    ("telefon", CommKind::Phone),
    ("tel", CommKind::Phone),
    ("email", CommKind::Email),
    ("mail", CommKind::Email),
    ("web", CommKind::Web),
    ("website", CommKind::Web),
    ("webseite", CommKind::Web),
    ("url", CommKind::Web),
    ("im", CommKind::Im),
    ("messenger", CommKind::Im),
];

pub fn field_names(kind: ElementKind) -> &'static [&'static str] {
    match kind {
        ElementKind::Lead => LEAD_FIELDS,
        ElementKind::Contact => CONTACT_FIELDS,
        ElementKind::Company => COMPANY_FIELDS,
        ElementKind::Deal => DEAL_FIELDS,
    }
}

/// Maps every column it recognises; a column it does not is reported, not fatal, so that
/// an import can go on with what it understands.
pub fn auto_map(kind: ElementKind, headers: &[String], custom: &[CustomFieldInfo]) -> Mapping {
    let mut mapping = Mapping { targets: Vec::with_capacity(headers.len()), unknown: Vec::new() };
    for header in headers {
        let target = resolve(kind, header, custom).filter(|t| !taken(&mapping.targets, t));
        if target.is_none() && !normalise(header).is_empty() {
            mapping.unknown.push(header.clone());
        }
        mapping.targets.push(target);
    }
    mapping
}

/// Maps the columns the person chose and ignores the rest. Fields are named as `auto_map`
/// would recognise them (GraphQL names, `header_for` names, labels); unlike there, a name
/// that fits nothing is an error, as the person asked for it.
pub fn explicit_map(
    kind: ElementKind,
    headers: &[String],
    pairs: &[(String, String)],
    custom: &[CustomFieldInfo],
) -> Result<Mapping, String> {
    let mut targets: Vec<Option<Target>> = vec![None; headers.len()];
    for (column, field) in pairs {
        let index = column_index(headers, column)
            .ok_or_else(|| format!("the column \"{column}\" is not in the file's header"))?;
        let target =
            resolve(kind, field, custom).ok_or_else(|| format!("\"{field}\" is not a field of {}", kind.noun()))?;
        if taken(&targets, &target) {
            return Err(format!("the field \"{field}\" is mapped from more than one column"));
        }
        match targets.get_mut(index) {
            Some(slot @ None) => *slot = Some(target),
            _ => return Err(format!("the column \"{column}\" is mapped more than once")),
        }
    }
    Ok(Mapping { targets, unknown: Vec::new() })
}

/// The header an export writes, chosen so that `auto_map` maps it back to `target`.
pub fn header_for(target: &Target) -> String {
    match target {
        Target::Field(name) => (*name).to_owned(),
        Target::Comm { kind, value_type } if *value_type == kind.default_value_type() => comm_word(*kind).to_owned(),
        Target::Comm { kind, value_type } => format!("{} ({})", comm_word(*kind), value_type.to_ascii_lowercase()),
        Target::Custom(code) => format!("custom.{code}"),
        Target::ExternalId => "externalId".to_owned(),
    }
}

/// A plain, custom or id target is filled once per row; communications add up.
fn taken(targets: &[Option<Target>], target: &Target) -> bool {
    !matches!(target, Target::Comm { .. }) && targets.iter().any(|t| t.as_ref() == Some(target))
}

/// The exact header, else the one that reads the same once normalised.
fn column_index(headers: &[String], column: &str) -> Option<usize> {
    let column = column.trim();
    headers.iter().position(|h| h.trim() == column).or_else(|| {
        let wanted = normalise(column);
        headers.iter().position(|h| !wanted.is_empty() && normalise(h) == wanted)
    })
}

/// Tries the most specific readings first: an explicit `custom.<code>` and ids, then the
/// built-in fields, then communications, then custom fields by code or label (so that a
/// custom field labelled "Status" does not hide the built-in status).
pub fn resolve(kind: ElementKind, header: &str, custom: &[CustomFieldInfo]) -> Option<Target> {
    let n = normalise(header);
    if n.is_empty() {
        return None;
    }
    if let Some(target) = custom_by_prefix(header, custom) {
        return Some(target);
    }
    if EXTERNAL_ID_NAMES.contains(&n.as_str()) || n == kind.own_id() {
        return Some(Target::ExternalId);
    }
    if let Some(field) = plain_field(kind, &n) {
        return Some(Target::Field(field));
    }
    if kind.has_comms()
        && let Some(target) = comm_target(&n)
    {
        return Some(target);
    }
    let by_code = custom.iter().find(|c| normalise(&c.code) == n);
    by_code.or_else(|| custom.iter().find(|c| normalise(&c.label) == n)).map(|c| Target::Custom(c.code.clone()))
}

fn custom_by_prefix(header: &str, custom: &[CustomFieldInfo]) -> Option<Target> {
    let header = header.trim();
    let rest = header.get(..7).filter(|p| p.eq_ignore_ascii_case("custom."))?;
    let code = normalise(&header[rest.len()..]);
    custom.iter().find(|c| normalise(&c.code) == code).map(|c| Target::Custom(c.code.clone()))
}

fn plain_field(kind: ElementKind, n: &str) -> Option<&'static str> {
    let fields = field_names(kind);
    if let Some(field) = fields.iter().copied().find(|f| normalise(f) == n) {
        return Some(field);
    }
    if COMPANY_NAMES.contains(&n) {
        return match kind {
            ElementKind::Lead => Some("companyTitle"),
            ElementKind::Company => Some("title"),
            ElementKind::Contact | ElementKind::Deal => None,
        };
    }
    match (kind, n) {
        (ElementKind::Lead, "leadname" | "leadtitle") | (ElementKind::Deal, "dealname" | "dealtitle") => {
            return Some("title");
        }
        _ => {}
    }
    let (_, candidates) = ALIASES.iter().find(|(names, _)| names.contains(&n))?;
    candidates.iter().copied().find(|c| fields.contains(c))
}

/// Reads "Phone", "Mobile", "Skype", "work phone", "E-Mail (privat)", "phone (mobile)",
/// "telefon privat", and numbered copies such as "Email 2".
fn comm_target(n: &str) -> Option<Target> {
    let n = n.trim_end_matches(|c: char| c.is_ascii_digit());
    if let Some((_, kind, value_type)) = COMM_ALIASES.iter().find(|(names, _, _)| names.contains(&n)) {
        return Some(Target::Comm { kind: *kind, value_type });
    }
    if let Some((word, type_word)) = n.strip_suffix(')').and_then(|inner| inner.split_once('(')) {
        let (_, kind) = COMM_WORDS.iter().find(|(w, _)| *w == word)?;
        return typed_comm(*kind, type_word);
    }
    COMM_WORDS.iter().find_map(|&(word, kind)| {
        let type_word = n.strip_suffix(word).or_else(|| n.strip_prefix(word))?;
        typed_comm(kind, type_word)
    })
}

fn typed_comm(kind: CommKind, type_word: &str) -> Option<Target> {
    let name = match type_word {
        "business" | "office" | "arbeit" | "geschaeftlich" | "dienstlich" | "beruflich" | "buero" => "WORK",
        "mobil" | "cell" | "cellular" | "handy" => "MOBILE",
        "private" | "privat" | "personal" | "persoenlich" => "HOME",
        "andere" | "sonstige" | "sonstiges" | "weitere" => "OTHER",
        "newsletter" => "MAILING",
        other => other,
    };
    comm_value_type(kind, name).map(|value_type| Target::Comm { kind, value_type })
}

/// Lowercases and drops what people vary without meaning anything: spaces, `-`, `_`, `.`,
/// a trailing `:` and the spelling of umlauts ("Währung", "Waehrung", "Wa\u{308}hrung").
fn normalise(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.trim().trim_end_matches(':').chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            '\u{308}' if out.ends_with(['a', 'o', 'u']) => out.push('e'),
            '-' | '_' | '.' => {}
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [ElementKind; 4] = [ElementKind::Lead, ElementKind::Contact, ElementKind::Company, ElementKind::Deal];

    fn headers(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn map(kind: ElementKind, items: &[&str]) -> Vec<Option<Target>> {
        auto_map(kind, &headers(items), &[]).targets
    }

    fn field(name: &'static str) -> Option<Target> {
        Some(Target::Field(name))
    }

    fn comm(kind: CommKind, value_type: &'static str) -> Option<Target> {
        Some(Target::Comm { kind, value_type })
    }

    /// Each header maps to the field beside it (`externalId`: the external id column).
    fn check(kind: ElementKind, pairs: &[(&str, &'static str)]) {
        let headers: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        let expected: Vec<Option<Target>> =
            pairs.iter().map(|&(_, f)| if f == "externalId" { Some(Target::ExternalId) } else { field(f) }).collect();
        assert_eq!(map(kind, &headers), expected, "{kind:?}");
    }

    #[test]
    fn english_headers() {
        use ElementKind::{Company, Contact, Deal, Lead};
        check(Lead, &[("First name", "firstName"), ("Last name", "lastName"), ("Middle name", "middleName")]);
        check(Lead, &[("Company", "companyTitle"), ("Title", "title"), ("Job title", "position")]);
        check(Lead, &[("Salutation", "honorific"), ("Date of birth", "birthdate"), ("Address", "address")]);
        check(
            Lead,
            &[("Notes", "comments"), ("Source", "sourceId"), ("Status", "statusId"), ("Amount", "opportunity")],
        );
        check(Lead, &[("Currency", "currency"), ("Owner", "assignedToId"), ("Lead name", "title")]);
        check(
            Company,
            &[("Company name", "title"), ("Revenue", "revenue"), ("Industry", "industryId"), ("Type", "typeId")],
        );
        check(Company, &[("Legal name", "legalName"), ("VAT ID", "vatId"), ("Tax ID", "taxId"), ("IBAN", "iban")]);
        check(Company, &[("BIC", "bic"), ("Bank", "bankName"), ("Name", "title")]);
        assert_eq!(map(Company, &["Website"]), [comm(CommKind::Web, "WORK")]);
        check(Deal, &[("Deal name", "title"), ("Stage", "stageId"), ("Pipeline", "pipelineId")]);
        check(Deal, &[("Deal value", "opportunity"), ("Responsible", "assignedToId"), ("Comment", "comments")]);
        check(Contact, &[("Name", "lastName"), ("Birthday", "birthdate"), ("Position", "position")]);
    }

    #[test]
    fn graphql_names_and_loose_spelling() {
        for spelling in ["firstName", "FIRST_NAME", " first-name: ", "First.Name"] {
            assert_eq!(map(ElementKind::Lead, &[spelling]), [field("firstName")], "{spelling}");
        }
        assert_eq!(
            map(ElementKind::Lead, &["companyTitle", "UTM source"]),
            [field("companyTitle"), field("utmSource")]
        );
        let mapping = auto_map(ElementKind::Lead, &headers(&["firstName", "First Name"]), &[]);
        assert_eq!(mapping.unknown, headers(&["First Name"]), "a repeated plain field is reported");
    }

    #[test]
    fn german_headers() {
        use ElementKind::{Company, Contact, Deal, Lead};
        check(Contact, &[("Vorname", "firstName"), ("Nachname", "lastName"), ("Zweiter Vorname", "middleName")]);
        check(Contact, &[("Anrede", "honorific"), ("Funktion", "position"), ("Geburtsdatum", "birthdate")]);
        check(Contact, &[("Anschrift", "address"), ("Bemerkung", "comments")]);
        check(
            Lead,
            &[("Firma", "companyTitle"), ("Quelle", "sourceId"), ("Status", "statusId"), ("Betrag", "opportunity")],
        );
        check(
            Lead,
            &[("Währung", "currency"), ("Zuständig", "assignedToId"), ("Titel", "title"), ("Name", "lastName")],
        );
        check(Company, &[("Unternehmen", "title"), ("Umsatz", "revenue"), ("Branche", "industryId")]);
        check(Company, &[("Waehrung", "currency"), ("Kundennummer", "externalId")]);
        check(Deal, &[("Titel", "title"), ("Phase", "stageId"), ("Summe", "opportunity")]);
        check(Deal, &[("Verantwortlich", "assignedToId"), ("Externe ID", "externalId"), ("Stufe", "stageId")]);
        check(Deal, &[("Wert", "opportunity")]);
    }

    #[test]
    fn typed_communications() {
        use CommKind::{Email, Im, Phone, Web};
        let lead = map(
            ElementKind::Lead,
            &["Phone", "Work phone", "Mobile", "Mobile phone", "Cell", "Home phone", "Fax", "phone (mobile)", "Tel."],
        );
        let expected = ["WORK", "WORK", "MOBILE", "MOBILE", "MOBILE", "HOME", "FAX", "MOBILE", "WORK"];
        assert_eq!(lead, expected.map(|t| comm(Phone, t)).to_vec(), "phone columns may repeat");
        let contact = map(
            ElementKind::Contact,
            &[
                "E-mail",
                "Email",
                "Work e-mail",
                "E-mail (home)",
                "Home email",
                "Private email",
                "email (home)",
                "Email 2",
            ],
        );
        let expected = ["WORK", "WORK", "WORK", "HOME", "HOME", "HOME", "HOME", "WORK"];
        assert_eq!(contact, expected.map(|t| comm(Email, t)).to_vec());
        let german = map(
            ElementKind::Company,
            &["Telefon", "Telefonnummer", "Handy", "Mobiltelefon", "Mobilnummer", "Mobil", "E-Mail-Adresse", "Mail"],
        );
        let expected = [
            (Phone, "WORK"),
            (Phone, "WORK"),
            (Phone, "MOBILE"),
            (Phone, "MOBILE"),
            (Phone, "MOBILE"),
            (Phone, "MOBILE"),
        ];
        let mut expected: Vec<_> = expected.into_iter().map(|(k, t)| comm(k, t)).collect();
        expected.extend([comm(Email, "WORK"), comm(Email, "WORK")]);
        assert_eq!(german, expected);
        let more = map(
            ElementKind::Lead,
            &["E-Mail (privat)", "Webseite", "Homepage", "Internetseite", "Skype", "Telegram", "WhatsApp", "LinkedIn"],
        );
        let expected = [(Email, "HOME"), (Web, "WORK"), (Web, "WORK"), (Web, "WORK"), (Im, "SKYPE"), (Im, "TELEGRAM")];
        let mut expected: Vec<_> = expected.into_iter().map(|(k, t)| comm(k, t)).collect();
        expected.extend([comm(Im, "WHATSAPP"), comm(Web, "LINKEDIN")]);
        assert_eq!(more, expected);
        let rest =
            map(ElementKind::Lead, &["Facebook", "URL", "Telefon (privat)", "telefon geschäftlich", "im (viber)"]);
        let expected = [(Web, "FACEBOOK"), (Web, "WORK"), (Phone, "HOME"), (Phone, "WORK"), (Im, "VIBER")];
        assert_eq!(rest, expected.into_iter().map(|(k, t)| comm(k, t)).collect::<Vec<_>>());
        assert_eq!(map(ElementKind::Lead, &["email (mobile)", "phone (nonsense)"]), [None, None]);
    }

    #[test]
    fn fields_the_kind_lacks_are_unknown() {
        let mapping = auto_map(ElementKind::Contact, &headers(&["Stage", "Firma", "Revenue", "", "Vorname"]), &[]);
        assert_eq!(mapping.targets, vec![None, None, None, None, field("firstName")]);
        assert_eq!(mapping.unknown, headers(&["Stage", "Firma", "Revenue"]), "an unnamed column is not reported");
        let mapping = auto_map(ElementKind::Deal, &headers(&["Phone", "Email", "Status", "Deal name"]), &[]);
        assert_eq!(mapping.unknown, headers(&["Phone", "Email", "Status"]));
        assert_eq!(map(ElementKind::Company, &["Source", "Position"]), [None, None]);
    }

    #[test]
    fn custom_fields() {
        let custom = [
            CustomFieldInfo { code: "shoe_size".to_owned(), label: "Schuhgröße".to_owned() },
            CustomFieldInfo { code: "UF_CRM_7".to_owned(), label: "Status".to_owned() },
        ];
        let items = headers(&["Shoe size", "schuhgroesse", "custom.UF_CRM_7", "Status", "custom.nope", "uf-crm-7"]);
        let mapping = auto_map(ElementKind::Lead, &items, &custom);
        let shoe = Some(Target::Custom("shoe_size".to_owned()));
        let uf = Some(Target::Custom("UF_CRM_7".to_owned()));
        assert_eq!(mapping.targets, vec![shoe, None, uf, field("statusId"), None, None]);
        assert_eq!(mapping.unknown, headers(&["schuhgroesse", "custom.nope", "uf-crm-7"]));
        let custom_status = auto_map(ElementKind::Contact, &headers(&["Status"]), &custom).targets;
        assert_eq!(custom_status, vec![Some(Target::Custom("UF_CRM_7".to_owned()))], "contacts have no status");
    }

    #[test]
    fn external_ids() {
        assert_eq!(map(ElementKind::Lead, &["ID", "external id", "Lead ID"]), [Some(Target::ExternalId), None, None]);
        assert_eq!(map(ElementKind::Contact, &["Company ID", "Contact ID"]), [None, Some(Target::ExternalId)]);
    }

    #[test]
    fn explicit_mapping() {
        let custom = [CustomFieldInfo { code: "size".to_owned(), label: "Size".to_owned() }];
        let cols = headers(&["A", "B", "C", "D", "E"]);
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items.iter().map(|(c, f)| ((*c).to_owned(), (*f).to_owned())).collect()
        };
        let ok = pairs(&[("A", "firstName"), ("b", "phone (mobile)"), ("C", "custom.size"), ("E", "phone")]);
        let mapping = explicit_map(ElementKind::Contact, &cols, &ok, &custom).unwrap();
        let expected = vec![
            field("firstName"),
            comm(CommKind::Phone, "MOBILE"),
            Some(Target::Custom("size".to_owned())),
            None,
            comm(CommKind::Phone, "WORK"),
        ];
        assert_eq!(mapping, Mapping { targets: expected, unknown: vec![] });
        let error =
            |items: &[(&str, &str)]| explicit_map(ElementKind::Contact, &cols, &pairs(items), &custom).unwrap_err();
        assert_eq!(error(&[("Z", "firstName")]), "the column \"Z\" is not in the file's header");
        assert_eq!(error(&[("A", "stageId")]), "\"stageId\" is not a field of a contact");
        assert_eq!(error(&[("A", "nonsense")]), "\"nonsense\" is not a field of a contact");
        assert_eq!(
            error(&[("A", "lastName"), ("B", "lastName")]),
            "the field \"lastName\" is mapped from more than one column"
        );
        assert_eq!(error(&[("A", "lastName"), ("A", "firstName")]), "the column \"A\" is mapped more than once");
    }

    #[test]
    fn header_for_round_trips_through_auto_map() {
        let custom = [CustomFieldInfo { code: "UF_CRM_1".to_owned(), label: "Lieblingsfarbe".to_owned() }];
        for kind in KINDS {
            let mut targets: Vec<Target> = field_names(kind).iter().copied().map(Target::Field).collect();
            if kind.has_comms() {
                for comm_kind in CommKind::ALL {
                    targets.extend(
                        comm_kind.value_types().iter().map(|&t| Target::Comm { kind: comm_kind, value_type: t }),
                    );
                }
            }
            targets.extend([Target::Custom("UF_CRM_1".to_owned()), Target::ExternalId]);
            let names: Vec<String> = targets.iter().map(header_for).collect();
            let mapping = auto_map(kind, &names, &custom);
            for ((target, name), mapped) in targets.iter().zip(&names).zip(&mapping.targets) {
                assert_eq!(mapped.as_ref(), Some(target), "{kind:?}: {name}");
            }
            assert!(mapping.unknown.is_empty(), "{kind:?}: {:?}", mapping.unknown);
        }
        assert_eq!(header_for(&Target::Comm { kind: CommKind::Phone, value_type: "MOBILE" }), "phone (mobile)");
        assert_eq!(header_for(&Target::Comm { kind: CommKind::Im, value_type: "OTHER" }), "im");
        assert_eq!(header_for(&Target::Custom("x".to_owned())), "custom.x");
    }

    #[test]
    fn normalises_spelling() {
        assert_eq!(normalise(" E-Mail-Adresse: "), "emailadresse");
        assert_eq!(normalise("Straße_Nr."), "strassenr");
        assert_eq!(normalise("WA\u{308}HRUNG"), "waehrung");
    }
}
