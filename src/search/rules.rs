//! What a search query asks for, decided without the database: whether it is an e-mail
//! address (or part of one), phone digits or words, the values each statement binds, the
//! scores of each kind of hit, and how the hits of the element types merge into one list.

use phonenumber::country::Id as Region;

use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::{ElementType, validate};

/// The longest query taken, in characters: a search box, not a document.
pub const MAX_QUERY_CHARS: usize = 200;
/// Hits per search when the client does not say, and the most it may ask for.
pub const DEFAULT_FIRST: i32 = 20;
pub const MAX_FIRST: i32 = 100;
/// Phone queries need this many digits: fewer match too much to be useful.
pub const MIN_PHONE_DIGITS: usize = 4;
/// Misspellings and e-mail parts of a text query need words this long: a shorter one shares
/// its few trigrams with too many names to find anything in particular.
pub const MIN_FUZZY_CHARS: usize = 3;
/// Misspellings are looked for with at most this many words (each is an index condition).
pub const MAX_FUZZY_WORDS: usize = 3;

/// Scores. An exact e-mail or phone is 1; everything else is below, so exact hits come
/// first. A name or title whose words start with the query's scores 0.6 to 0.9 (more the
/// closer it is, by trigram word similarity); a misspelling is its word similarity (at least
/// 0.6, the `<%` threshold) times 0.55, so 0.33 to 0.55, under every prefix hit; a part of an
/// e-mail or phone 0.5 to 0.59 (more the more of the value it covers), and an address in
/// which a text query's word starts or ends a part 0.4 to 0.49.
pub const EXACT_SCORE: f64 = 1.0;
pub const PREFIX_BASE: f64 = 0.6;
pub const PREFIX_SPAN: f64 = 0.3;
pub const FUZZY_FACTOR: f64 = 0.55;
pub const PART_BASE: f64 = 0.5;
pub const TEXT_EMAIL_BASE: f64 = 0.4;
pub const COVER_SPAN: f64 = 0.09;

/// What one query looks for; the statements bind these values.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Text(TextPlan),
    Email(EmailPlan),
    Phone(PhonePlan),
}

/// Words: each a prefix of a word of a name or title (all required), the misspelling
/// fallback, and e-mails containing a single word.
#[derive(Clone, Debug, PartialEq)]
pub struct TextPlan {
    /// The words as typed (the database folds them: accents, case).
    pub words: Vec<String>,
    /// The words joined by spaces, for word similarity (scores, misspellings).
    pub phrase: String,
    /// Words long enough to look for misspelt.
    pub fuzzy: Vec<String>,
    /// A single word of 3+ characters, to look for in e-mail addresses.
    pub email: Option<EmailWord>,
}

/// A word in e-mail addresses: starting the address or its domain, or ending its local part
/// ("mueller" finds mueller@…, anna.mueller@… and …@mueller.example).
#[derive(Clone, Debug, PartialEq)]
pub struct EmailWord {
    /// The word in lower case: what the address or the domain starts with.
    pub word: String,
    /// The word reversed: what the reversed local part starts with.
    pub reversed: String,
    /// Characters of the word, for the hit's score.
    pub needle_chars: i32,
}

/// An address or a part of one.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailPlan {
    /// The normalised address when the query is a whole one.
    pub exact: Option<String>,
    /// The part lined up at its "@": the local part ends with `local`, the domain starts
    /// with `domain`.
    pub part: Option<EmailPart>,
    /// Characters of the query, for the part hit's score.
    pub needle_chars: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmailPart {
    /// What precedes the "@", reversed (the reversed local part starts with it), if anything.
    pub local_reversed: Option<String>,
    /// What follows the "@" (the domain starts with it), if anything.
    pub domain: Option<String>,
}

/// Phone digits.
#[derive(Clone, Debug, PartialEq)]
pub struct PhonePlan {
    /// E.164 forms of a whole number.
    pub exact: Vec<String>,
    /// Ways the digits may sit in a stored E.164 number.
    pub parts: Vec<PhonePart>,
}

/// `%digits%` (the trigram index), and what the number must start with when the query names
/// the country (international form, or a national number read in the server's region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhonePart {
    pub contains_like: String,
    pub starts_with: Option<String>,
    /// Characters of the stored number the match accounts for (the digits, or the "+" and
    /// country code too when it starts the number), for the score: a number matched with
    /// its country ranks above one that merely contains the digits.
    pub needle_chars: i32,
}

impl PhonePart {
    fn anywhere(digits: &str) -> PhonePart {
        PhonePart {
            contains_like: format!("%{}%", escape_like(digits)),
            starts_with: None,
            needle_chars: chars_i32(digits),
        }
    }

    /// `intl` (country code and number, no "+") at the start of the stored number.
    fn from_country(intl: &str) -> PhonePart {
        let start = format!("+{intl}");
        PhonePart {
            contains_like: format!("%{}%", escape_like(intl)),
            needle_chars: chars_i32(&start),
            starts_with: Some(start),
        }
    }
}

/// Checks the query and decides what it looks for. `region` reads national numbers.
pub fn plan(query: &str, region: Region) -> DomainResult<Plan> {
    // Control characters mean nothing in a search box (and PostgreSQL text cannot hold NUL).
    let cleaned: String = query.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let q = cleaned.trim();
    if q.is_empty() {
        return Err(DomainError::bad_input("query", "`query` must not be empty"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(DomainError::bad_input("query", format!("`query` holds at most {MAX_QUERY_CHARS} characters")));
    }
    if q.contains('@') {
        return Ok(Plan::Email(email_plan(q)));
    }
    if looks_like_phone(q) {
        return Ok(Plan::Phone(phone_plan(q, region)));
    }
    Ok(Plan::Text(text_plan(q)))
}

/// Hits per search: `first` (default 20) up to 100; less than 1 is an error.
pub fn page_size(first: Option<i32>) -> DomainResult<i64> {
    let first = first.unwrap_or(DEFAULT_FIRST);
    if first < 1 {
        return Err(DomainError::bad_input("first", "`first` must be at least 1"));
    }
    Ok(i64::from(first.min(MAX_FIRST)))
}

/// The element types to search, each once in the usual order; all four when not given.
pub fn element_types(asked: Option<Vec<ElementType>>) -> Vec<ElementType> {
    match asked {
        None => ElementType::ALL.to_vec(),
        Some(list) => ElementType::ALL.into_iter().filter(|t| list.contains(t)).collect(),
    }
}

/// The upper end of the strings starting with `prefix`, in code point order (that of
/// `text_pattern_ops`, bytewise UTF-8): every string `s` with `prefix <= s < upper` starts
/// with `prefix`. `None` when there is no such bound (the prefix is all `char::MAX`). A
/// range, unlike `LIKE 'prefix%'`, can use the index whatever the statement's plan.
pub fn prefix_upper(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next code point, across the surrogates (no chars).
        let next = u32::from(last) + 1;
        if let Some(c) = char::from_u32(if next == 0xD800 { 0xE000 } else { next }) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Escapes LIKE's wildcards and its escape character, so user text matches literally.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn chars_i32(s: &str) -> i32 {
    i32::try_from(s.chars().count()).unwrap_or(i32::MAX)
}

/// Characters people write phone numbers with besides digits.
fn is_phone_punctuation(c: char) -> bool {
    matches!(c, '+' | '-' | '(' | ')' | '.' | '/')
}

/// At least 4 digits, and digits and phone punctuation make at least four fifths of what
/// is not space ("+49 (30) 1234-5", "030/1234"; not "Room 1234" or "ABC-1234").
fn looks_like_phone(q: &str) -> bool {
    let digits = q.chars().filter(char::is_ascii_digit).count();
    let visible: Vec<char> = q.chars().filter(|c| !c.is_whitespace()).collect();
    let phone_chars = visible.iter().filter(|c| c.is_ascii_digit() || is_phone_punctuation(**c)).count();
    digits >= MIN_PHONE_DIGITS && phone_chars * 5 >= visible.len() * 4
}

fn text_plan(q: &str) -> TextPlan {
    // Words are runs of letters and digits, as the full-text parser splits names; anything
    // else in the query separates words and is never sent as syntax.
    let words: Vec<String> =
        q.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect();
    let fuzzy: Vec<String> =
        words.iter().filter(|w| w.chars().count() >= MIN_FUZZY_CHARS).take(MAX_FUZZY_WORDS).cloned().collect();
    let single = !q.contains(char::is_whitespace) && q.chars().count() >= MIN_FUZZY_CHARS;
    let lower = q.to_lowercase();
    let reversed: String = lower.chars().rev().collect();
    TextPlan {
        phrase: words.join(" "),
        email: single.then(|| EmailWord { needle_chars: chars_i32(&lower), word: lower, reversed }),
        words,
        fuzzy,
    }
}

fn email_plan(q: &str) -> EmailPlan {
    // Stored addresses are lower case (`validate::email`); so is what is compared with them.
    let lower = q.to_lowercase();
    let exact = validate::email("query", q).ok();
    let part = lower.split_once('@').and_then(|(local, domain)| {
        // A second "@" lines up with nothing in a stored address.
        if domain.contains('@') || (local.is_empty() && domain.is_empty()) {
            return None;
        }
        let reversed: String = local.chars().rev().collect();
        Some(EmailPart {
            local_reversed: (!local.is_empty()).then_some(reversed),
            domain: (!domain.is_empty()).then(|| domain.to_owned()),
        })
    });
    EmailPlan { exact, part, needle_chars: chars_i32(&lower) }
}

/// The calling code of `region` (49 for DE).
fn calling_code(region: Region) -> Option<u16> {
    phonenumber::metadata::DATABASE.by_id(region.as_ref()).map(phonenumber::Metadata::country_code)
}

fn phone_plan(q: &str, region: Region) -> PhonePlan {
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let exact = validate::phone("query", q, region).ok().into_iter().collect();
    let international =
        if q.starts_with('+') { Some(digits.clone()) } else { digits.strip_prefix("00").map(str::to_owned) };
    let mut parts = Vec::new();
    match international {
        // The country is named: stored numbers start with it.
        Some(intl) => parts.push(PhonePart::from_country(&intl)),
        None => {
            parts.push(PhonePart::anywhere(&digits));
            // A national number ("030 1234"): also as the server's region writes it in E.164
            // (stored numbers have no trunk 0, so this is the form that finds 030 1234…).
            if let (Some(national), Some(code)) = (digits.strip_prefix('0'), calling_code(region)) {
                parts.push(PhonePart::from_country(&format!("{code}{national}")));
            }
        }
    }
    PhonePlan { exact, parts }
}

/// One hit of one element type, as its statement found it.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub element_type: ElementType,
    pub id: i64,
    pub score: f64,
    pub matched_on: String,
    pub snippet: Option<String>,
}

fn type_rank(t: ElementType) -> usize {
    ElementType::ALL.iter().position(|x| *x == t).unwrap_or(usize::MAX)
}

/// The hits of all types as one list: best score first, ties by type (leads, contacts,
/// companies, deals) then id, cut to `first`.
pub fn merge(mut hits: Vec<Hit>, first: i64) -> Vec<Hit> {
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| type_rank(a.element_type).cmp(&type_rank(b.element_type)))
            .then_with(|| a.id.cmp(&b.id))
    });
    hits.truncate(usize::try_from(first).unwrap_or(0));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    const DE: Region = Region::DE;

    fn text(q: &str) -> TextPlan {
        match plan(q, DE).unwrap() {
            Plan::Text(t) => t,
            other => panic!("{q} is not text: {other:?}"),
        }
    }

    fn email(q: &str) -> EmailPlan {
        match plan(q, DE).unwrap() {
            Plan::Email(e) => e,
            other => panic!("{q} is not an e-mail: {other:?}"),
        }
    }

    fn phone(q: &str) -> PhonePlan {
        match plan(q, DE).unwrap() {
            Plan::Phone(p) => p,
            other => panic!("{q} is not a phone: {other:?}"),
        }
    }

    fn bad_field(r: DomainResult<impl std::fmt::Debug>) -> String {
        match r {
            Err(DomainError::BadInput { field, .. }) => field,
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn empty_and_long_queries_are_refused() {
        assert_eq!(bad_field(plan("", DE)), "query");
        assert_eq!(bad_field(plan(" \t\n ", DE)), "query");
        assert_eq!(bad_field(plan(&"a".repeat(201), DE)), "query");
        assert!(plan(&format!("  {}  ", "ä".repeat(200)), DE).is_ok(), "characters count, not bytes or spaces");
    }

    #[test]
    fn first_defaults_and_is_clamped() {
        assert_eq!(page_size(None).unwrap(), 20);
        assert_eq!(page_size(Some(1)).unwrap(), 1);
        assert_eq!(page_size(Some(500)).unwrap(), 100);
        assert_eq!(bad_field(page_size(Some(0))), "first");
        assert_eq!(bad_field(page_size(Some(-3))), "first");
    }

    #[test]
    fn types_default_to_all_in_order_and_once() {
        assert_eq!(element_types(None), ElementType::ALL.to_vec());
        let asked = vec![ElementType::Deal, ElementType::Lead, ElementType::Deal];
        assert_eq!(element_types(Some(asked)), vec![ElementType::Lead, ElementType::Deal]);
        assert!(element_types(Some(Vec::new())).is_empty());
    }

    #[test]
    fn words_are_split_on_anything_but_letters_and_digits() {
        let t = text("  Anna  Mül ");
        assert_eq!(t.words, ["Anna", "Mül"]);
        assert_eq!(t.phrase, "Anna Mül");
        assert_eq!(t.fuzzy, ["Anna", "Mül"]);
        assert_eq!(t.email, None, "several words are no e-mail part");
        let t = text("o'Brien & (Söhne):* | x");
        assert_eq!(t.words, ["o", "Brien", "Söhne", "x"], "tsquery syntax never reaches the database");
        assert_eq!(t.fuzzy, ["Brien", "Söhne"]);
    }

    #[test]
    fn a_single_word_also_looks_into_e_mails_with_wildcards_escaped() {
        let e = text("Mueller").email.unwrap();
        assert_eq!((e.word.as_str(), e.reversed.as_str()), ("mueller", "relleum"));
        assert_eq!(e.needle_chars, 7);
        let e = text("50%_off").email.unwrap();
        assert_eq!((e.word.as_str(), e.reversed.as_str()), ("50%_off", "ffo_%05"), "compared as a range, not LIKE");
        assert_eq!(text("ab").email, None, "too short");
        assert!(text("ab").fuzzy.is_empty());
    }

    #[test]
    fn misspellings_use_at_most_three_long_words() {
        assert_eq!(text("a bc def ghij klmno pqrstu").fuzzy, ["def", "ghij", "klmno"]);
    }

    #[test]
    fn an_at_sign_makes_an_e_mail_query() {
        let e = email(" Anna.Berg@Example.com ");
        assert_eq!(e.exact.as_deref(), Some("anna.berg@example.com"));
        let part = e.part.unwrap();
        assert_eq!(part.local_reversed.as_deref(), Some("greb.anna"));
        assert_eq!(part.domain.as_deref(), Some("example.com"));

        let e = email("anna@");
        assert_eq!(e.exact, None, "a part is not an address");
        let part = e.part.unwrap();
        assert_eq!((part.local_reversed.as_deref(), part.domain), (Some("anna"), None));
        assert_eq!(e.needle_chars, 5);

        let part = email("@Mueller.example").part.unwrap();
        assert_eq!((part.local_reversed, part.domain.as_deref()), (None, Some("mueller.example")));

        let part = email("a_b%@x").part.unwrap();
        assert_eq!(part.local_reversed.as_deref(), Some("%b_a"));

        assert_eq!(email("@").part, None);
        assert_eq!(email("a@b@c").part, None);
    }

    #[test]
    fn phone_queries_need_four_digits_and_mostly_phone_characters() {
        assert!(matches!(plan("301234", DE).unwrap(), Plan::Phone(_)));
        assert!(matches!(plan("+49 (30) 1234-5", DE).unwrap(), Plan::Phone(_)));
        assert!(matches!(plan("030/1234", DE).unwrap(), Plan::Phone(_)));
        assert!(matches!(plan("123", DE).unwrap(), Plan::Text(_)), "three digits are a word");
        assert!(matches!(plan("Room 1234", DE).unwrap(), Plan::Text(_)));
        assert!(matches!(plan("ABC-1234", DE).unwrap(), Plan::Text(_)));
        assert!(matches!(plan("2024", DE).unwrap(), Plan::Phone(_)));
    }

    #[test]
    fn bare_digits_match_anywhere() {
        let p = phone("301234");
        assert_eq!(p.parts, [PhonePart { contains_like: "%301234%".into(), starts_with: None, needle_chars: 6 }]);
    }

    #[test]
    fn a_national_number_is_also_tried_with_the_regions_country_code() {
        let p = phone("030 1234");
        assert_eq!(
            p.parts,
            [
                PhonePart { contains_like: "%0301234%".into(), starts_with: None, needle_chars: 7 },
                PhonePart {
                    contains_like: "%49301234%".into(),
                    starts_with: Some("+49301234".into()),
                    needle_chars: 9
                },
            ]
        );
        let us = match plan("0301234", Region::US).unwrap() {
            Plan::Phone(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(us.parts[1].starts_with.as_deref(), Some("+1301234"));
    }

    #[test]
    fn an_international_number_must_start_with_its_country() {
        for q in ["+49 30 12", "0049 30 12"] {
            let p = phone(q);
            assert_eq!(
                p.parts,
                [PhonePart { contains_like: "%493012%".into(), starts_with: Some("+493012".into()), needle_chars: 7 }],
                "{q}"
            );
        }
    }

    #[test]
    fn a_whole_number_is_also_matched_exactly() {
        assert_eq!(phone("030 12345678").exact, ["+493012345678"]);
        assert_eq!(phone("+49 30 12345678").exact, ["+493012345678"]);
        assert!(phone("3012").exact.is_empty());
    }

    fn hit(t: ElementType, id: i64, score: f64) -> Hit {
        Hit { element_type: t, id, score, matched_on: "name".into(), snippet: None }
    }

    #[test]
    fn merged_hits_are_ordered_by_score_then_type_then_id_and_cut() {
        let hits = vec![
            hit(ElementType::Deal, 1, 0.7),
            hit(ElementType::Contact, 9, 0.7),
            hit(ElementType::Contact, 3, 0.7),
            hit(ElementType::Lead, 5, 1.0),
            hit(ElementType::Company, 2, 0.4),
        ];
        let merged = merge(hits, 4);
        let order: Vec<(ElementType, i64)> = merged.iter().map(|h| (h.element_type, h.id)).collect();
        assert_eq!(
            order,
            [(ElementType::Lead, 5), (ElementType::Contact, 3), (ElementType::Contact, 9), (ElementType::Deal, 1)]
        );
    }

    #[test]
    fn a_prefix_range_ends_at_the_next_code_point() {
        assert_eq!(prefix_upper("anna").as_deref(), Some("annb"));
        assert_eq!(prefix_upper("mü").as_deref(), Some("mý"));
        assert_eq!(prefix_upper("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_upper("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper("\u{10FFFF}"), None);
        assert_eq!(prefix_upper(""), None);
    }

    #[test]
    fn control_characters_are_spaces() {
        assert_eq!(text("anna\0mül\u{7}").words, ["anna", "mül"]);
        assert_eq!(bad_field(plan("\0\t", DE)), "query");
    }

    #[test]
    fn like_escaping_covers_both_wildcards_and_the_escape() {
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
        assert_eq!(escape_like("plain"), "plain");
    }
}
