//! One inbound e-mail, as the RFC 5322 bytes a mailbox hands over, turned into what the CRM stores.
//!
//! Pure on purpose: no database, no I/O, no async, so the intake worker can run it anywhere and
//! the tests can feed it files. `mail-parser` does MIME, transfer encodings, RFC 2047/2231 and
//! charsets; this module decides what counts as a message at all, which sender, text and
//! attachments the CRM keeps, and which mail was sent by a machine rather than a person.

use std::borrow::Cow;
use std::fmt;

use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};
use mail_parser::decoders::html::add_html_token;
use mail_parser::{Addr, Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// The longest text body kept, in characters: enough for any letter a person writes, and it keeps
/// a forwarded 20 MB newsletter out of the activity timeline.
pub const MAX_TEXT: usize = 100_000;

/// Longer file names are cut: file systems and download headers stop at about 255 bytes.
const MAX_FILE_NAME: usize = 200;

/// The longest HTML entity name is 31 characters (`&CounterClockwiseContourIntegral;`).
const MAX_ENTITY: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Lower-cased and trimmed, so that the same person matches the same contact.
    pub email: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The sender's file name without any directory part; "attachment" when the part has none.
    pub name: String,
    pub content_type: String,
    pub size: usize,
    /// Bytes after the transfer encoding is undone. A text attachment (.txt, .csv, .ics) comes as
    /// UTF-8 whatever its charset was: mail-parser converts text parts while it reads them.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Message ids are kept without angle brackets, as they are compared with each other.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// RFC 2047 decoded; "" when absent.
    pub subject: String,
    /// The text body with `\n` line ends; for HTML-only mail, a text made from the HTML. At most
    /// [`MAX_TEXT`] characters.
    pub text: String,
    pub date: Option<chrono::DateTime<Utc>>,
    pub attachments: Vec<Attachment>,
    /// An out-of-office or other auto-responder answered (RFC 3834 and the older conventions).
    pub auto_reply: bool,
    /// A newsletter, list or bulk mailing.
    pub bulk: bool,
}

impl InboundMail {
    /// Mail nobody typed: the CRM must not answer it or open a ticket for it, or two auto-responders
    /// can mail each other forever.
    pub fn is_automatic(&self) -> bool {
        self.auto_reply || self.bulk
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes are not an e-mail message at all; the text says why.
    NotAMessage(String),
    /// A message, but without a From address the CRM could link to a contact.
    NoSender,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAMessage(why) => write!(f, "not an e-mail message: {why}"),
            Self::NoSender => f.write_str("the e-mail message has no usable sender address in its From header"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one message. Never panics, whatever the bytes.
pub fn parse(raw: &[u8]) -> Result<InboundMail, ParseError> {
    let raw = skip_mbox_separator(raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::NotAMessage("the input is empty".to_owned()));
    }
    // mail-parser takes nearly anything for a header (a line without a colon, even a lone word),
    // so a PDF or an Outlook .msg would come back as a "message": the first line must be a field.
    if !starts_with_header_field(raw) {
        return Err(ParseError::NotAMessage("it does not begin with a header field".to_owned()));
    }
    let message = read_message(raw).ok_or_else(|| ParseError::NotAMessage("no header fields were found".to_owned()))?;
    let headers = root_headers(&message);
    if headers.is_empty() {
        return Err(ParseError::NotAMessage("no header fields were found".to_owned()));
    }

    let from = first(headers, &HeaderName::From)
        .and_then(HeaderValue::as_address)
        .and_then(|list| list.iter().find_map(to_address))
        .ok_or(ParseError::NoSender)?;

    Ok(InboundMail {
        message_id: message_ids(first(headers, &HeaderName::MessageId)).into_iter().next(),
        in_reply_to: message_ids(first(headers, &HeaderName::InReplyTo)),
        references: message_ids(first(headers, &HeaderName::References)),
        from,
        to: recipients(headers, &HeaderName::To),
        cc: recipients(headers, &HeaderName::Cc),
        subject: first(headers, &HeaderName::Subject).and_then(HeaderValue::as_text).map(one_line).unwrap_or_default(),
        text: body_text(&message),
        date: first(headers, &HeaderName::Date).and_then(HeaderValue::as_datetime).and_then(to_utc),
        attachments: message.attachments().filter_map(to_attachment).collect(),
        auto_reply: is_auto_reply(headers),
        bulk: is_bulk(headers),
    })
}

/// Mail saved from an mbox file starts with a "From sender date" line that is not a header
/// ("From : …", with the blank the obsolete syntax allows, is one).
fn skip_mbox_separator(raw: &[u8]) -> &[u8] {
    if !raw.starts_with(b"From ") || starts_with_header_field(raw) {
        return raw;
    }
    match raw.iter().position(|&b| b == b'\n') {
        Some(end) => raw.get(end + 1..).unwrap_or_default(),
        None => raw,
    }
}

/// RFC 5322 field name: printable ASCII but the colon; the obsolete syntax allows blanks before it.
fn starts_with_header_field(raw: &[u8]) -> bool {
    let name_len = raw.iter().take_while(|&&b| b.is_ascii_graphic() && b != b':').count();
    name_len > 0 && raw.iter().skip(name_len).find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
}

/// mail-parser 0.11 has `debug_assert!`s that malformed MIME can reach (a message/rfc822 part
/// that holds only another message/rfc822 header): debug builds panic there, release builds go on.
/// Whatever the build, one odd mail must not take the intake worker down, and its header alone
/// (sender, subject, thread) is still worth keeping when its body cannot be read.
fn read_message(raw: &[u8]) -> Option<Message<'_>> {
    let parser = MessageParser::default();
    std::panic::catch_unwind(|| parser.parse(raw))
        .or_else(|_| std::panic::catch_unwind(|| parser.parse_headers(raw)))
        .ok()
        .flatten()
}

fn root_headers<'a, 'x>(message: &'a Message<'x>) -> &'a [Header<'x>] {
    message.parts.first().map(|part| part.headers.as_slice()).unwrap_or_default()
}

/// mail-parser's own accessors return the *last* of repeated fields; a forged second From or
/// Subject is usually appended, and mail programs show the first, so the CRM does too.
fn first<'a, 'x>(headers: &'a [Header<'x>], name: &HeaderName<'_>) -> Option<&'a HeaderValue<'x>> {
    headers.iter().find(|header| &header.name == name).map(|header| &header.value)
}

fn has(headers: &[Header<'_>], name: &HeaderName<'_>) -> bool {
    headers.iter().any(|header| &header.name == name)
}

/// The first word of each such field, lower-cased: "auto-replied; owner-email=…" gives "auto-replied".
fn keywords<'a>(headers: &'a [Header<'_>], name: &'a HeaderName<'_>) -> impl Iterator<Item = String> + 'a {
    headers.iter().filter(move |header| &header.name == name).map(|header| {
        let value = header.value.as_text().unwrap_or_default();
        value.split([';', '(']).next().unwrap_or_default().trim().to_ascii_lowercase()
    })
}

fn is_auto_reply(headers: &[Header<'_>]) -> bool {
    let auto_submitted = keywords(headers, &HeaderName::AutoSubmitted).any(|value| value != "no");
    auto_submitted
        || has(headers, &HeaderName::Other(Cow::Borrowed("X-Autoreply")))
        || has(headers, &HeaderName::Other(Cow::Borrowed("X-Autorespond")))
        || keywords(headers, &PRECEDENCE).any(|value| value == "auto_reply")
}

fn is_bulk(headers: &[Header<'_>]) -> bool {
    keywords(headers, &PRECEDENCE).any(|value| matches!(value.as_str(), "bulk" | "junk" | "list"))
        || has(headers, &HeaderName::ListId)
        || has(headers, &HeaderName::ListUnsubscribe)
}

const PRECEDENCE: HeaderName<'static> = HeaderName::Other(Cow::Borrowed("Precedence"));

/// Only a value with a local part and a domain is an address; "undisclosed" or an empty group is not.
fn to_address(addr: &Addr<'_>) -> Option<Address> {
    let email = addr.address()?.trim().to_lowercase();
    let (local, domain) = email.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    // Quotes around a name ('Hans Müller' from Outlook) are not part of it, and a "name" that only
    // repeats the address would otherwise become the contact's name.
    let name = addr
        .name()
        .map(|name| one_line(name).trim_matches(['"', '\'', ' ']).to_owned())
        .filter(|name| !name.is_empty() && !name.eq_ignore_ascii_case(&email));
    Some(Address { email, name })
}

fn recipients(headers: &[Header<'_>], name: &HeaderName<'_>) -> Vec<Address> {
    let mut found: Vec<Address> = Vec::new();
    let lists = headers.iter().filter(|header| &header.name == name).filter_map(|header| header.value.as_address());
    for address in lists.flat_map(|list| list.iter()).filter_map(to_address) {
        if !found.iter().any(|known| known.email == address.email) {
            found.push(address);
        }
    }
    found
}

fn message_ids(value: Option<&HeaderValue<'_>>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in value.and_then(HeaderValue::as_text_list).unwrap_or_default() {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
        if !id.is_empty() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// Header text on one line, without control characters (PostgreSQL refuses NUL in text).
fn one_line(text: &str) -> String {
    let printable: String = text.chars().filter(|c| c.is_whitespace() || !c.is_control()).collect();
    printable.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Built by hand rather than with the crate's `to_timestamp`, so that an impossible date
/// (31 February, hour 25) gives no date instead of a wrong one.
fn to_utc(date: &mail_parser::DateTime) -> Option<chrono::DateTime<Utc>> {
    let local = NaiveDate::from_ymd_opt(i32::from(date.year), u32::from(date.month), u32::from(date.day))?
        .and_hms_opt(u32::from(date.hour), u32::from(date.minute), u32::from(date.second))?;
    let offset =
        (i32::from(date.tz_hour) * 3600 + i32::from(date.tz_minute) * 60) * if date.tz_before_gmt { -1 } else { 1 };
    let zoned = FixedOffset::east_opt(offset)?.from_local_datetime(&local).single()?;
    Some(zoned.with_timezone(&Utc))
}

/// All text parts in order (Apple Mail puts text, image, text in one message), HTML converted;
/// an empty text/plain beside real HTML, as some senders produce, gives way to the HTML.
fn body_text(message: &Message<'_>) -> String {
    let text = join_parts(message.text_bodies());
    let text = if text.trim().is_empty() { join_parts(message.html_bodies()) } else { text };
    let mut text = text.trim_start_matches(['\r', '\n']).trim_end().to_owned();
    if let Some((cut, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(cut);
    }
    text
}

fn join_parts<'a>(parts: impl Iterator<Item = &'a MessagePart<'a>>) -> String {
    let mut joined = String::new();
    for part in parts {
        let text = match &part.body {
            PartType::Text(text) => clean_text(text),
            PartType::Html(html) => html_to_text(html),
            _ => continue,
        };
        if text.trim().is_empty() {
            continue;
        }
        if !joined.is_empty() {
            joined.push_str("\n\n");
        }
        joined.push_str(text.trim_end());
        // Enough to fill MAX_TEXT; the rest would only be cut off again.
        if joined.len() > MAX_TEXT * 4 {
            break;
        }
    }
    joined
}

/// `\n` line ends whatever the sender used, and no control characters but tab and line feed.
fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

fn to_attachment(part: &MessagePart<'_>) -> Option<Attachment> {
    if part.is_multipart() {
        return None;
    }
    let data = part.contents().to_vec();
    Some(Attachment { name: file_name(part), content_type: content_type(part), size: data.len(), data })
}

/// Only the last path component: a name like `..\..\boot.ini` must not steer where it is saved.
fn file_name(part: &MessagePart<'_>) -> String {
    let name = part.attachment_name().unwrap_or_default();
    let name = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = name.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned();
    if let Some((cut, _)) = name.char_indices().nth(MAX_FILE_NAME) {
        name.truncate(cut);
    }
    if name.is_empty() || name.chars().all(|c| c == '.') { "attachment".to_owned() } else { name }
}

fn content_type(part: &MessagePart<'_>) -> String {
    let declared = part.content_type().and_then(|ct| Some(format!("{}/{}", ct.ctype(), ct.subtype()?)));
    match (declared, &part.body) {
        (Some(declared), _) => declared.to_ascii_lowercase(),
        (None, PartType::Text(_)) => "text/plain".to_owned(),
        (None, PartType::Html(_)) => "text/html".to_owned(),
        (None, PartType::Message(_)) => "message/rfc822".to_owned(),
        (None, _) => "application/octet-stream".to_owned(),
    }
}

/// Elements whose content is never shown to a reader.
const HIDDEN_ELEMENTS: [&str; 4] = ["script", "style", "title", "template"];

/// Elements that stand apart from the text around them by a blank line.
const PARAGRAPH_ELEMENTS: [&str; 13] =
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table", "pre", "hr"];

/// Elements that start on a line of their own.
const LINE_ELEMENTS: [&str; 14] = [
    "div", "li", "tr", "dl", "dt", "dd", "section", "article", "header", "footer", "address", "center", "form",
    "caption",
];

/// A text version of an HTML body: what a reader sees, line by line. Not a renderer; it only has
/// to read well in the CRM's timeline and search well.
pub fn html_to_text(html: &str) -> String {
    let mut writer = TextWriter::default();
    let mut rest = html;
    while !rest.is_empty() && writer.out.len() <= MAX_TEXT * 4 {
        let Some(found) = rest.find(['<', '&']) else {
            writer.text(rest);
            break;
        };
        let Some((before, markup)) = rest.split_at_checked(found) else {
            break;
        };
        writer.text(before);
        rest = if markup.starts_with('&') { entity(markup, &mut writer) } else { tag(markup, &mut writer) };
    }
    writer.out.trim().to_owned()
}

/// Decodes the entity at the start of `markup` (which starts with '&') and returns what follows it.
fn entity<'a>(markup: &'a str, writer: &mut TextWriter) -> &'a str {
    let name_len =
        markup.bytes().skip(1).take(MAX_ENTITY).take_while(|b| b.is_ascii_alphanumeric() || *b == b'#').count();
    if name_len > 0
        && markup.as_bytes().get(name_len + 1) == Some(&b';')
        && let Some((token, after)) = markup.split_at_checked(name_len + 2)
    {
        // The crate's table has all of HTML5's entities; an unknown one comes back as written.
        let mut decoded = String::new();
        add_html_token(&mut decoded, token.as_bytes(), false);
        writer.text(&decoded);
        return after;
    }
    writer.text("&");
    markup.get(1..).unwrap_or_default()
}

/// Handles the tag at the start of `markup` (which starts with '<') and returns what follows it.
fn tag<'a>(markup: &'a str, writer: &mut TextWriter) -> &'a str {
    let inner = markup.get(1..).unwrap_or_default();
    if let Some(comment) = inner.strip_prefix("!--") {
        return comment.find("-->").and_then(|end| comment.get(end + 3..)).unwrap_or_default();
    }
    // "a < b" in sloppy HTML is text, not a tag.
    if !inner.starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?')) {
        writer.text("<");
        return inner;
    }
    let Some(end) = tag_end(inner) else {
        return "";
    };
    let body = inner.get(..end).unwrap_or_default();
    let after = inner.get(end + 1..).unwrap_or_default();
    let closing = body.starts_with('/');
    let name = body.trim_start_matches('/').split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or_default();
    let name = name.to_ascii_lowercase();
    if !closing && !body.ends_with('/') && HIDDEN_ELEMENTS.contains(&name.as_str()) {
        return skip_element(after, &name);
    }
    writer.element(&name, closing);
    after
}

/// The '>' that ends a tag, skipping any inside quoted attribute values.
fn tag_end(inner: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    let mut previous = 0u8;
    for (index, byte) in inner.bytes().enumerate() {
        match quote {
            Some(open) if byte == open => quote = None,
            Some(_) => {}
            None if byte == b'>' => return Some(index),
            // A quote opens a value only right after '=': `it's` in an unquoted value does not.
            None if (byte == b'"' || byte == b'\'') && previous == b'=' => quote = Some(byte),
            None => {}
        }
        if !byte.is_ascii_whitespace() {
            previous = byte;
        }
    }
    None
}

/// What follows the end tag of `name`; nothing when it is never closed, as a browser would show.
fn skip_element<'a>(after: &'a str, name: &str) -> &'a str {
    let close = format!("</{name}");
    let found = after.as_bytes().windows(close.len()).position(|window| window.eq_ignore_ascii_case(close.as_bytes()));
    found
        .and_then(|start| after.get(start..))
        .and_then(|end_tag| end_tag.find('>').and_then(|end| end_tag.get(end + 1..)))
        .unwrap_or_default()
}

/// Collects text with HTML's whitespace rules: runs of blanks become one space, lines start
/// without one, and never more than one blank line in a row.
#[derive(Default)]
struct TextWriter {
    out: String,
    pending_space: bool,
}

impl TextWriter {
    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
            } else if !c.is_control() {
                if self.pending_space && !self.out.is_empty() && !self.out.ends_with('\n') {
                    self.out.push(' ');
                }
                self.pending_space = false;
                self.out.push(c);
            }
        }
    }

    fn line_break(&mut self) {
        if !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
        self.pending_space = false;
    }

    /// Ends the current line, leaving `lines - 1` blank lines, unless that many are already there.
    fn block(&mut self, lines: usize) {
        if self.out.is_empty() {
            return;
        }
        let present = self.out.len() - self.out.trim_end_matches('\n').len();
        for _ in present..lines {
            self.out.push('\n');
        }
        self.pending_space = false;
    }

    fn element(&mut self, name: &str, closing: bool) {
        match name {
            "br" => self.line_break(),
            "li" if !closing => {
                self.block(1);
                self.text("- ");
            }
            "td" | "th" => self.pending_space = true,
            _ if PARAGRAPH_ELEMENTS.contains(&name) => self.block(2),
            _ if LINE_ELEMENTS.contains(&name) => self.block(1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(raw: &[u8]) -> InboundMail {
        match parse(raw) {
            Ok(mail) => mail,
            Err(error) => panic!("fixture did not parse: {error}"),
        }
    }

    fn addr(email: &str, name: Option<&str>) -> Address {
        Address { email: email.to_owned(), name: name.map(str::to_owned) }
    }

    fn utc(text: &str) -> Option<chrono::DateTime<Utc>> {
        Some(chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc))
    }

    #[test]
    fn plain_utf8_text() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/plain.eml"));
        assert_eq!(mail.from, addr("anna.schmidt@example.com", Some("Anna Schmidt")));
        assert_eq!(mail.to, vec![addr("vertrieb@example.org", Some("Vertrieb Kontor"))]);
        assert_eq!(mail.cc, vec![addr("joerg.becker@example.com", Some("Jörg Becker"))]);
        assert_eq!(mail.subject, "Anfrage zu Ihrem Angebot");
        assert_eq!(mail.message_id.as_deref(), Some("3f1c2a9e-7b4d-4c1e-9a53-2d8f6e0b1c77@example.com"));
        assert!(mail.in_reply_to.is_empty() && mail.references.is_empty());
        assert_eq!(mail.date, utc("2024-05-14T07:30:00Z"));
        assert!(mail.text.starts_with("Sehr geehrte Damen und Herren,\n\nvielen Dank für Ihr Angebot vom 10. Mai."));
        assert!(mail.text.contains("Mit freundlichen Grüßen\nAnna Schmidt"));
        assert!(mail.text.ends_with("Hauptstraße 12, 80331 München"));
        assert!(!mail.text.contains('\r'));
        assert!(mail.attachments.is_empty());
        assert!(!mail.auto_reply && !mail.bulk && !mail.is_automatic());
    }

    #[test]
    fn alternative_takes_the_quoted_printable_text_part() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/alternative.eml"));
        assert_eq!(mail.from, addr("thomas.mueller@example.org", Some("Müller, Thomas")));
        // A display name that only repeats the address is no name.
        assert_eq!(mail.to, vec![addr("vertrieb@example.org", None)]);
        assert_eq!(mail.subject, "Terminbestätigung für Dienstag");
        assert_eq!(
            mail.text,
            "Hallo Frau Schmidt,\n\nhiermit bestätige ich unseren Termin am Dienstag, 21.05., um 14:00 Uhr in \
             unserem Büro in Köln.\n\nViele Grüße\nThomas Müller"
        );
        assert_eq!(mail.date, utc("2024-05-15T16:05:12Z"));
        assert!(mail.attachments.is_empty(), "the HTML alternative is not an attachment");
    }

    #[test]
    fn html_only_becomes_readable_text() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/html_only.eml"));
        assert_eq!(mail.from, addr("shop@example.com", Some("Büromöbel Schulze")));
        assert_eq!(mail.subject, "Bestellbestätigung Nr. 100234");
        assert_eq!(
            mail.text,
            "Guten Tag Herr Weiß,\n\
             \n\
             vielen Dank für Ihre Bestellung & Ihr Vertrauen.\n\
             Die Lieferung erfolgt in Kürze.\n\
             \n\
             - Bürostuhl „Ergo“: 249,00 €\n\
             - Schreibtisch: 1.299,00 €\n\
             \n\
             Bei Rückfragen erreichen Sie uns unter <service@example.com>.\n\
             \n\
             Mit freundlichen Grüßen\n\
             Ihr Team von Büromöbel Schulze"
        );
        assert!(mail.attachments.is_empty());
    }

    #[test]
    fn attachments_are_decoded_with_names_and_sizes() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/attachments.eml"));
        assert_eq!(mail.from, addr("s.hoffmann@example.com", Some("Sabine Hoffmann")));
        assert_eq!(mail.to, vec![addr("stefan.krueger@example.org", Some("Stefan Krüger"))]);
        assert_eq!(
            mail.text,
            "Hallo Herr Krüger,\n\nanbei wie besprochen das unterschriebene Angebot und der Lageplan.\n\n\
             Beste Grüße\nSabine Hoffmann"
        );
        let summary: Vec<(&str, &str, usize)> =
            mail.attachments.iter().map(|a| (a.name.as_str(), a.content_type.as_str(), a.size)).collect();
        assert_eq!(
            summary,
            vec![("Angebot_2024-117.pdf", "application/pdf", 597), ("Lageplan_Büro.png", "image/png", 166)]
        );
        let [pdf, png] = mail.attachments.as_slice() else { panic!("two attachments") };
        assert!(pdf.data.starts_with(b"%PDF-1.4") && pdf.data.ends_with(b"%%EOF\n"));
        assert!(png.data.starts_with(b"\x89PNG\r\n\x1a\n") && png.data.len() == png.size);
    }

    #[test]
    fn latin1_body_and_encoded_words() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/latin1.eml"));
        assert_eq!(mail.from, addr("juergen.mueller@example.com", Some("Jürgen Müller")));
        assert_eq!(mail.subject, "Rückfrage zur Rechnung Nr. 4711");
        assert!(mail.text.contains("die Position \"Übergrößenzuschlag\" doppelt\nberechnet worden. Bitte prüfen Sie"));
        assert!(mail.text.ends_with("Müller Sanitär GmbH · Bahnhofstraße 3 · 50667 Köln"));
        assert_eq!(mail.date, utc("2024-05-16T09:47:23Z"));
    }

    #[test]
    fn utf8_encoded_words_across_folded_lines() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/utf8_headers.eml"));
        assert_eq!(mail.from, addr("oezlem.yilmaz@example.com", Some("Özlem Yılmaz-Weiß")));
        assert_eq!(mail.subject, "Rückruf erbeten: Änderung der Lieferadresse für Auftrag 2024-0815");
        assert_eq!(
            mail.to,
            vec![
                addr("vertrieb@example.org", Some("Vertrieb")),
                addr("service@example.org", None),
                addr("zoe@example.net", Some("Zoë Ångström")),
            ]
        );
        assert!(mail.text.contains("Gießener Straße 27, 60435 Frankfurt am Main."));
        assert_eq!(mail.message_id.as_deref(), Some("CAF=x8kQ2bT1_u9vZ+3wE7rYdLq0Ms4NfH6pGc@mail.example.com"));
        assert_eq!(mail.date, utc("2024-05-21T11:58:10Z"));
    }

    #[test]
    fn reply_names_the_first_message() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/reply.eml"));
        assert_eq!(mail.from, addr("p.wagner@example.net", Some("Petra Wagner")));
        assert_eq!(mail.message_id.as_deref(), Some("reply-7d2e9c41@example.net"));
        assert_eq!(mail.in_reply_to, vec!["first-message@example.com".to_owned()]);
        assert_eq!(mail.references, vec!["first-message@example.com".to_owned()]);
        assert_eq!(mail.subject, "AW: Ihr Angebot Nr. 2024-117");
        assert!(mail.text.contains("ich kümmere mich darum. Wir nehmen das Angebot so an."));
        assert!(!mail.is_automatic());
    }

    #[test]
    fn out_of_office_is_an_auto_reply() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/out_of_office.eml"));
        assert_eq!(mail.from, addr("k.fischer@example.com", Some("Klaus Fischer")));
        assert!(mail.auto_reply && !mail.bulk && mail.is_automatic());
        assert_eq!(mail.in_reply_to, vec!["first-message@example.com".to_owned()]);
        assert!(
            mail.text
                .starts_with("Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 24.05.2024 nicht im Büro")
        );
    }

    #[test]
    fn mailing_list_is_bulk() {
        let mail = fixture(include_bytes!("../../../tests/fixtures/mail/mailing_list.eml"));
        assert_eq!(mail.from, addr("news@example.net", Some("Fachverband Büroeinrichtung e.V.")));
        assert_eq!(mail.subject, "[Mitgliederinfo] Messe-Termine Juni 2024");
        assert!(mail.bulk && !mail.auto_reply && mail.is_automatic());
        assert!(mail.text.contains("  * 18.06. Fachmesse Büro & Objekt, Düsseldorf"));
    }

    #[test]
    fn malformed_fixture_is_not_a_message() {
        let result = parse(include_bytes!("../../../tests/fixtures/mail/malformed.eml"));
        assert!(matches!(result, Err(ParseError::NotAMessage(_))), "{result:?}");
    }

    #[test]
    fn inputs_that_are_not_messages() {
        for raw in [
            &b""[..],
            b"   \r\n\t ",
            b"hello world",
            b"Hello world\nno header here\n",
            b"\r\nFrom: a@example.com\r\n\r\nx",
        ] {
            let result = parse(raw);
            assert!(matches!(result, Err(ParseError::NotAMessage(_))), "{raw:?} gave {result:?}");
        }
        assert_eq!(parse(b"").unwrap_err().to_string(), "not an e-mail message: the input is empty");
    }

    #[test]
    fn messages_without_a_usable_sender() {
        for raw in [
            &b"To: a@example.com\r\nSubject: Hallo\r\n\r\nText"[..],
            b"From: undisclosed\r\nTo: a@example.com\r\n\r\nText",
            b"From: Max Mustermann <>\r\n\r\nText",
            b"From: \r\n\r\n",
        ] {
            assert_eq!(parse(raw).unwrap_err(), ParseError::NoSender, "{raw:?}");
        }
        assert_eq!(
            ParseError::NoSender.to_string(),
            "the e-mail message has no usable sender address in its From header"
        );
    }

    #[test]
    fn header_details() {
        let raw = b"From max.mustermann@example.com Mon May 13 10:00:00 2024\n\
            From: 'Max Mustermann' <Max.Mustermann@Example.com>\n\
            From: Eve <eve@example.net>\n\
            To: undisclosed-recipients:;\n\
            Cc: Team: A@example.com, a@example.com, b@example.com;\n\
            Message-ID: bare-id@example.com\n\
            References: <one@example.com>\n <two@example.com> <one@example.com>\n\
            Date: 31 Feb 2024 10:00:00 +0100\n\
            Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n  aus\tK\x00\xc3\xb6ln\n\
            \n\
            Text\r\nmit\rZeilen\x00enden\n";
        let mail = parse(raw).unwrap();
        assert_eq!(mail.from, addr("max.mustermann@example.com", Some("Max Mustermann")), "the first From counts");
        assert!(mail.to.is_empty());
        assert_eq!(mail.cc, vec![addr("a@example.com", None), addr("b@example.com", None)]);
        assert_eq!(mail.message_id.as_deref(), Some("bare-id@example.com"));
        assert_eq!(mail.references, vec!["one@example.com".to_owned(), "two@example.com".to_owned()]);
        assert_eq!(mail.date, None, "31 February is no date");
        assert_eq!(mail.subject, "Grüße aus Köln");
        assert_eq!(mail.text, "Text\nmit\nZeilenenden");
    }

    #[test]
    fn automatic_mail_markers() {
        let check = |extra: &str| {
            let raw = format!("From: a@example.com\r\n{extra}\r\n\r\nText");
            let mail = parse(raw.as_bytes()).unwrap();
            (mail.auto_reply, mail.bulk)
        };
        assert_eq!(check("Auto-Submitted: no"), (false, false));
        assert_eq!(check("Auto-Submitted: No (manual)"), (false, false));
        assert_eq!(check("auto-submitted: Auto-Generated"), (true, false));
        assert_eq!(check("Auto-Submitted: auto-replied; owner-email=\"a@example.com\""), (true, false));
        assert_eq!(check("X-Autoreply: yes"), (true, false));
        assert_eq!(check("X-Autorespond: Urlaub"), (true, false));
        assert_eq!(check("Precedence: auto_reply"), (true, false));
        assert_eq!(check("Precedence: BULK"), (false, true));
        assert_eq!(check("Precedence: junk"), (false, true));
        assert_eq!(check("Precedence: first-class"), (false, false));
        assert_eq!(check("List-Unsubscribe: <https://example.com/abmelden>"), (false, true));
        assert_eq!(check("List-ID: <news.example.com>"), (false, true));
    }

    #[test]
    fn text_is_bounded() {
        let raw = format!("From: a@example.com\r\n\r\n{}", "ä".repeat(MAX_TEXT + 10));
        let mail = parse(raw.as_bytes()).unwrap();
        assert_eq!(mail.text.chars().count(), MAX_TEXT);

        let html = format!(
            "From: a@example.com\r\nContent-Type: text/html\r\n\r\n{}",
            "<p>Absatz mit Text</p>".repeat(MAX_TEXT / 4)
        );
        let mail = parse(html.as_bytes()).unwrap();
        assert_eq!(mail.text.chars().count(), MAX_TEXT);
    }

    #[test]
    fn attachment_names() {
        let raw = b"From: a@example.com\r\n\
            Content-Type: multipart/mixed; boundary=X\r\n\r\n\
            --X\r\nContent-Type: text/plain\r\n\r\nSiehe Anhang\r\n\
            --X\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\r\nabc\r\n\
            --X\r\nContent-Type: application/pdf; name=\"..\\\\..\\\\Rechnung.pdf\"\r\n\
            Content-Disposition: attachment; filename=\"../../Rechnung.pdf\"\r\n\r\n%PDF\r\n\
            --X\r\nContent-Type: application/x-unknown\r\nContent-Disposition: attachment; filename=\"..\"\r\n\r\nz\r\n\
            --X--\r\n";
        let mail = parse(raw).unwrap();
        assert_eq!(mail.text, "Siehe Anhang");
        let names: Vec<(&str, usize)> = mail.attachments.iter().map(|a| (a.name.as_str(), a.size)).collect();
        assert_eq!(names, vec![("attachment", 3), ("Rechnung.pdf", 4), ("attachment", 1)]);
    }

    #[test]
    fn html_conversion() {
        assert_eq!(html_to_text("<script>alert('<p>x</p>')</script>Hallo"), "Hallo");
        assert_eq!(html_to_text("<STYLE type=text/css>p{}</STYLE><P>Eins</P><P>Zwei</P>"), "Eins\n\nZwei");
        assert_eq!(html_to_text("a<br>b<br/><br /><br>c"), "a\nb\n\nc");
        assert_eq!(html_to_text("<div>x</div><div><div>y</div></div>"), "x\ny");
        assert_eq!(html_to_text("1 < 2 &amp;&amp; 3 &gt; 2"), "1 < 2 && 3 > 2");
        assert_eq!(html_to_text("&unknown; &amp &#x1F600; &#99999999999; &#0;"), "&unknown; &amp 😀 &#99999999999;");
        assert_eq!(html_to_text("<a href=\"x>y\" title='it>s'>Link</a> text"), "Link text");
        assert_eq!(html_to_text("<table><tr><td>Name</td><td>Wert</td></tr></table>"), "Name Wert");
        assert_eq!(html_to_text("<!--[if mso]><p>Outlook</p><![endif]-->Text <![if !vml]>x<![endif]>"), "Text x");
        assert_eq!(html_to_text("Ende <b"), "Ende");
        assert_eq!(html_to_text("<script>never closed"), "");
        assert_eq!(html_to_text("Tsch&uuml;&szlig;\n\n   und   danke"), "Tschüß und danke");
    }

    #[test]
    fn mime_the_parser_trips_over_still_gives_the_header() {
        // In a debug build mail-parser panics on this (its panic message shows in the test output),
        // and only the header can be read; a release build reads it whole.
        let raw = b"From: Max Mustermann <max@example.com>\r\nSubject: Weitergeleitet\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n\
            --bContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n\r\n--b--\r\n";
        let mail = parse(raw).unwrap();
        assert_eq!(mail.from, addr("max@example.com", Some("Max Mustermann")));
        assert_eq!(mail.subject, "Weitergeleitet");
    }

    #[test]
    fn random_bytes_never_panic() {
        let pieces: [&[u8]; 16] = [
            b"From: a@example.com\r\n",
            b"Content-Type: multipart/mixed; boundary=b\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Type: text/html; charset=iso-8859-1\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"\r\n",
            b"--b\r\n",
            b"--b--\r\n",
            b"=?UTF-8?B?w7w=?= ",
            b"=C3=\r\n",
            b"<p>&auml;<br><li>",
            b"&#x",
            b"<!--",
            b"Subject: ",
            b"\xff\xfe\x00",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        for round in 0..600 {
            let mut raw = Vec::new();
            let len = next() % 300;
            for _ in 0..len {
                // Half the rounds pure noise, half a shuffle of mail-shaped pieces and noise.
                if round % 2 == 1 && next() % 3 != 0 {
                    raw.extend_from_slice(pieces[(next() % 16) as usize]);
                } else {
                    raw.push((next() & 0xff) as u8);
                }
            }
            let _ = parse(&raw);
        }
    }

    #[test]
    fn damaged_fixtures_never_panic() {
        let fixtures: [&[u8]; 4] = [
            include_bytes!("../../../tests/fixtures/mail/attachments.eml"),
            include_bytes!("../../../tests/fixtures/mail/alternative.eml"),
            include_bytes!("../../../tests/fixtures/mail/html_only.eml"),
            include_bytes!("../../../tests/fixtures/mail/utf8_headers.eml"),
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        for round in 0..400 {
            let mut raw = fixtures[round % fixtures.len()].to_vec();
            for _ in 0..1 + next() % 6 {
                let at = next() % raw.len().max(1);
                match next() % 4 {
                    0 => raw.truncate(at),
                    1 => raw.insert(at.min(raw.len()), b"<>&;=-\n\r:\"#"[next() % 11]),
                    2 if at < raw.len() => drop(raw.remove(at)),
                    _ => raw.splice(at.min(raw.len())..at.min(raw.len()), *b"\r\n--").for_each(drop),
                }
            }
            if let Ok(mail) = parse(&raw) {
                assert!(mail.text.chars().count() <= MAX_TEXT && !mail.text.contains('\0'));
            }
        }
    }
}
