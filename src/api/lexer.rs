//! How deep a GraphQL document nests, measured with GraphQL's lexical grammar and without
//! recursion, so it is safe on any input.
//!
//! The parser, validation and value conversion all recurse once per `{`, `[` or `(`, and a
//! few kilobytes of brackets overflow a worker thread's stack. This scan runs first: a
//! document that nests deeper than the limit, or whose strings never end, is refused before
//! anything recursive sees it. It must agree with the parser on where strings and comments
//! begin and end, or brackets hidden in a string could hide real ones: `"""` opens a block
//! string that only `"""` closes (`\"""` is an escaped quote triple inside it), `"` opens a
//! string that ends at the next unescaped `"` and may not span lines, and `#` starts a
//! comment that runs to the end of the line (`\n` or `\r`). Everything else (the BOM,
//! whitespace, commas, names, numbers) cannot hide a bracket. The same scan refuses U+0000
//! in strings, which no column can store. All significant characters are
//! ASCII, and no byte of a multi-byte UTF-8 sequence is ASCII, so the scan walks bytes.

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexErrorKind {
    /// `{`, `[` and `(` nest deeper than the limit.
    TooDeep { max: usize },
    /// A `"` string reaches the end of its line or of the document.
    UnterminatedString,
    /// A `"""` block string reaches the end of the document.
    UnterminatedBlockString,
    /// A string holds U+0000, raw or as `\u0000`: PostgreSQL stores it in neither text nor
    /// jsonb, so no input may carry it.
    NulInString,
}

/// A refusal with the 1-based position of the offending token, as GraphQL errors report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub line: usize,
    pub column: usize,
}

impl LexError {
    pub fn message(&self) -> String {
        let at = format!("line {}, column {}", self.line, self.column);
        match self.kind {
            LexErrorKind::TooDeep { max } => {
                format!(
                    "the document nests too deeply at {at} (at most {max} levels of braces, brackets and parentheses)"
                )
            }
            LexErrorKind::UnterminatedString => format!("unterminated string starting at {at}"),
            LexErrorKind::UnterminatedBlockString => format!("unterminated block string starting at {at}"),
            LexErrorKind::NulInString => format!("a string holds the NUL character (U+0000) at {at}"),
        }
    }
}

/// Checks that `{`, `[` and `(` outside strings and comments nest at most `max` deep, that
/// every string ends, and that no string holds U+0000.
pub fn check_nesting(doc: &str, max: usize) -> Result<(), LexError> {
    let bytes = doc.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let fail = |kind, at| Err(position(doc, at, kind));
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                let start = i;
                i += 3;
                loop {
                    if i >= bytes.len() {
                        return fail(LexErrorKind::UnterminatedBlockString, start);
                    }
                    if bytes[i] == 0 {
                        return fail(LexErrorKind::NulInString, i);
                    }
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n' | b'\r') => return fail(LexErrorKind::UnterminatedString, start),
                        Some(b'"') => break,
                        Some(0) => return fail(LexErrorKind::NulInString, i),
                        Some(b'\\') if bytes[i + 1..].starts_with(b"u0000") => {
                            return fail(LexErrorKind::NulInString, i);
                        }
                        // The escaped character is skipped whatever it is; the parser judges
                        // whether it is a valid escape, but a line break still ends the string.
                        Some(b'\\') if !matches!(bytes.get(i + 1), Some(b'\n' | b'\r')) => i += 2,
                        Some(_) => i += 1,
                    }
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return fail(LexErrorKind::TooDeep { max }, i);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Line and column (in characters) of a byte offset; `\r\n`, `\r` and `\n` end lines.
fn position(doc: &str, offset: usize, kind: LexErrorKind) -> LexError {
    let (mut line, mut column, mut after_cr) = (1, 1, false);
    for c in doc[..offset].chars() {
        match c {
            '\n' if after_cr => {}
            '\n' | '\r' => {
                line += 1;
                column = 1;
            }
            _ => column += 1,
        }
        after_cr = c == '\r';
    }
    LexError { kind, line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(n: usize, open: &str, close: &str) -> String {
        format!("{}{}", open.repeat(n), close.repeat(n))
    }

    fn kind(doc: &str, max: usize) -> Option<LexErrorKind> {
        check_nesting(doc, max).err().map(|e| e.kind)
    }

    #[test]
    fn counts_braces_brackets_and_parentheses_together() {
        assert_eq!(kind("{ a(x: [{ b: 1 }]) { c } }", 4), None);
        assert_eq!(kind("{ a(x: [{ b: 1 }]) { c } }", 3), Some(LexErrorKind::TooDeep { max: 3 }));
        assert_eq!(kind(&format!("{{ a(x: {}) }}", deep(100, "[", "]")), 48), Some(LexErrorKind::TooDeep { max: 48 }));
        assert_eq!(
            kind(&format!("{{ a(x: {}) }}", deep(100, "{b:", "}")), 48),
            Some(LexErrorKind::TooDeep { max: 48 })
        );
        // Depth is nesting, not count.
        assert_eq!(kind(&"{ a } ".repeat(10_000), 1), None);
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(kind(r#"{ a(x: "[[[[[[[[") }"#, 3), None);
        assert_eq!(kind(r#"{ a(x: "\"[[[[[[[[") }"#, 3), None);
        assert_eq!(kind(r#"{ a(x: "\\") b(y: "[[[[") }"#, 3), None);
    }

    #[test]
    fn brackets_after_a_string_count() {
        let doc = format!("{{ a(x: \"\\\\\", y: {}) }}", deep(10, "[", "]"));
        assert_eq!(kind(&doc, 5), Some(LexErrorKind::TooDeep { max: 5 }));
    }

    #[test]
    fn block_strings_with_an_odd_number_of_quotes_hide_nothing() {
        // The crash of issue 10: a quote-counting guard thinks the list is inside a string.
        let doc = format!("{{ a(x: \"\"\" \" \"\"\", y: {}) }}", deep(3000, "[", "]"));
        assert_eq!(kind(&doc, 48), Some(LexErrorKind::TooDeep { max: 48 }));
        let doc = format!("{{ a(x: \"\"\" \"\" \" \\\"\"\" \"\"\", y: {}) }}", deep(3000, "[", "]"));
        assert_eq!(check_nesting(&doc, 48).map_err(|e| e.kind), Err(LexErrorKind::TooDeep { max: 48 }));
    }

    #[test]
    fn brackets_inside_block_strings_do_not_count() {
        assert_eq!(kind("{ a(x: \"\"\" [[[[[[ \" \"\" {{{{ \n ((((( \"\"\") }", 3), None);
    }

    #[test]
    fn escaped_triple_quotes_do_not_end_a_block_string() {
        assert_eq!(kind(r#"{ a(x: """ \""" [[[[[[[[ """) }"#, 3), None);
        // `\\"""`: a backslash, then an escaped triple quote; the string goes on.
        assert_eq!(kind(r#"{ a(x: """ \\""" [[[[[[[[ """) }"#, 3), None);
        // A backslash before anything else is an ordinary character; `"""` ends the string.
        let doc = format!("{{ a(x: \"\"\" \\n \"\"\", y: {}) }}", deep(10, "[", "]"));
        assert_eq!(kind(&doc, 5), Some(LexErrorKind::TooDeep { max: 5 }));
    }

    #[test]
    fn comments_hide_brackets_and_quotes_until_the_line_ends() {
        assert_eq!(kind("{ # [[[[[[[[ \" \"\"\"\n a }", 3), None);
        assert_eq!(kind("{ # \"\"\" \r a(x: [[[[[[[[1]]]]]]]]) }", 3), Some(LexErrorKind::TooDeep { max: 3 }));
        assert_eq!(kind("{ a # \"\n (x: [[[[[[1]]]]]]) }", 3), Some(LexErrorKind::TooDeep { max: 3 }));
    }

    #[test]
    fn a_hash_inside_a_string_is_not_a_comment() {
        let doc = format!("{{ a(x: \"#\", y: {}) }}", deep(10, "[", "]"));
        assert_eq!(kind(&doc, 5), Some(LexErrorKind::TooDeep { max: 5 }));
        let doc = format!("{{ a(x: \"\"\"#\"\"\", y: {}) }}", deep(10, "[", "]"));
        assert_eq!(kind(&doc, 5), Some(LexErrorKind::TooDeep { max: 5 }));
    }

    #[test]
    fn strings_end_at_the_line() {
        // A quote-counting guard would think everything after the line break is inside the
        // string; the parser ends the string at the line break, so must we.
        let doc = format!("{{ a(x: \"open\n y: {}) }}", deep(10, "[", "]"));
        assert_eq!(kind(&doc, 5), Some(LexErrorKind::UnterminatedString));
        assert_eq!(kind("{ a(x: \"abc\\\n\") }", 5), Some(LexErrorKind::UnterminatedString));
        assert_eq!(kind("{ a(x: \"abc", 5), Some(LexErrorKind::UnterminatedString));
        assert_eq!(kind("{ a(x: \"\"\"abc\" \"\" ) }", 5), Some(LexErrorKind::UnterminatedBlockString));
        // An empty string is not a block string.
        assert_eq!(kind("{ a(x: \"\", y: \"\") }", 5), None);
    }

    #[test]
    fn strings_may_not_hold_nul() {
        assert_eq!(kind("{ a(x: \"a\\u0000b\") }", 5), Some(LexErrorKind::NulInString));
        assert_eq!(kind("{ a(x: \"a\0b\") }", 5), Some(LexErrorKind::NulInString));
        assert_eq!(kind("{ a(x: \"\"\"a\0b\"\"\") }", 5), Some(LexErrorKind::NulInString));
        // An escaped backslash followed by `u0000` is text; so is `\u0000` in a block string.
        assert_eq!(kind("{ a(x: \"a\\\\u0000b\") }", 5), None);
        assert_eq!(kind("{ a(x: \"\"\"a\\u0000b\"\"\") }", 5), None);
        assert_eq!(kind("{ a(x: \"\\u0001\") } # \0", 5), None);
    }

    #[test]
    fn bom_and_unicode_are_transparent() {
        assert_eq!(kind("\u{feff}{ a(x: \"ä[[[[[[\", y: \"\"\"😀 {{{{\"\"\") }", 3), None);
        let e = check_nesting("\u{feff}{ a(x: \"ü\")\r\n  b(y: [[[1]]]) }", 3).unwrap_err();
        assert_eq!((e.line, e.column), (2, 9));
        assert!(e.message().contains("line 2, column 9"), "{}", e.message());
    }

    #[test]
    fn positions_count_characters_and_every_line_terminator() {
        let e = check_nesting("\"a\"\r\"ä\"\n\r\n  \"x", 1).unwrap_err();
        assert_eq!((e.kind, e.line, e.column), (LexErrorKind::UnterminatedString, 4, 3));
    }
}
