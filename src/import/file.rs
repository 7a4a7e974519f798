//! Reading an uploaded CSV or Excel file as a header and a stream of rows.
//!
//! People export from Excel, Outlook, old CRMs and Google Sheets, so the reader guesses
//! what it must instead of asking: the format from the first bytes, the encoding from the
//! BOM or from whether the start is valid UTF-8, the delimiter from the header line. CSV is
//! streamed (decoded and parsed chunk by chunk) so that a file of millions of rows takes
//! constant memory; calamine has no streaming API, so an XLSX sheet is held whole, which
//! its own compression and row limit keep bounded.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use calamine::{Data, ExcelDateTime, Reader as _, Xlsx};
use encoding_rs::Encoding;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

/// How much of a file decides between UTF-8 and Windows-1252: enough to meet the first
/// umlaut in any real export, little enough to be read twice.
const SNIFF_BYTES: usize = 64 * 1024;
/// Where a NUL byte betrays a binary file; text encodings other than UTF-16 have none.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// A file with no line break is read by the CSV parser as it comes, not buffered whole to
/// find its header line: the delimiter is guessed from at most this much.
const HEADER_SCAN_LIMIT: usize = 1024 * 1024;
/// The delimiters a header line is searched for, the first winning ties.
const DETECTED_DELIMITERS: [u8; 3] = [b',', b';', b'\t'];
/// What a caller may ask for: `|` is accepted though never guessed, as it is rare enough
/// that guessing it would misread more files than it would save.
const ALLOWED_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Which reader a file went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// What the person importing said about the file; `None` lets the reader guess.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub delimiter: Option<u8>,
    pub encoding: Option<String>,
}

/// Why a file cannot be imported at all. Each is the uploader's to fix, so the messages
/// speak to them.
#[derive(Debug, Clone, PartialEq)]
pub enum FileError {
    Empty,
    /// What the file looks like instead, e.g. "a PNG image".
    NotTabular(String),
    DuplicateColumn(String),
    UnknownEncoding(String),
    BadDelimiter(String),
    Io(String),
    Xlsx(String),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the file is empty or has no header row"),
            Self::NotTabular(what) => {
                write!(f, "the file is not a CSV or Excel (.xlsx) file: it looks like {what}")
            }
            Self::DuplicateColumn(name) => write!(f, "the column \"{name}\" appears more than once in the header"),
            Self::UnknownEncoding(name) => {
                write!(f, "unknown encoding \"{name}\": use utf-8, utf-16 or windows-1252")
            }
            Self::BadDelimiter(d) => {
                write!(f, "the delimiter \"{d}\" is not supported: use a comma, a semicolon, a tab or \"|\"")
            }
            Self::Io(message) => write!(f, "could not read the file: {message}"),
            Self::Xlsx(message) => write!(f, "could not read the Excel file: {message}"),
        }
    }
}

impl std::error::Error for FileError {}

/// One data row, its cells lined up with the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The line (CSV) or sheet row (XLSX) where the row starts, the header being 1 in a file
    /// that starts with it, so that a person can find it in their editor.
    pub number: u64,
    /// Trimmed, exactly as many as the header has.
    pub cells: Vec<String>,
    /// Untrimmed, as many as the file had, for the file of rejected rows.
    pub raw: Vec<String>,
}

/// A row that cannot be lined up with the header; the rows after it are still read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub number: u64,
    pub message: String,
    pub raw: Vec<String>,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: {}", self.number, self.message)
    }
}

impl std::error::Error for RowError {}

/// An open file: its header, then its data rows as an iterator.
pub struct Rows {
    format: Format,
    headers: Vec<String>,
    delimiter: Option<u8>,
    source: Source,
    /// Set after a read error, which the CSV reader may repeat forever.
    done: bool,
}

/// The decoded text: a buffer over it finds the header line, whose bytes are then put back
/// in front of the rest for the CSV parser.
type Decoded = BufReader<DecodeReaderBytes<BufReader<File>, Vec<u8>>>;
type CsvInput = io::Chain<Cursor<Vec<u8>>, Decoded>;

enum Source {
    // Boxed: the parser's state is several hundred bytes, the sheet's a few words.
    Csv { reader: Box<csv::Reader<CsvInput>>, record: csv::StringRecord },
    Xlsx(Sheet),
}

/// A worksheet held whole, read one row at a time.
struct Sheet {
    range: calamine::Range<Data>,
    next: usize,
    /// The sheet row number (1-based) of the range's first row: calamine's range starts
    /// at the first used cell, not at A1.
    first_row: u64,
}

impl Sheet {
    fn next_raw(&mut self) -> Option<(u64, Vec<String>)> {
        let (height, width) = self.range.get_size();
        if self.next >= height {
            return None;
        }
        let row = self.next;
        self.next += 1;
        let cells = (0..width).map(|col| self.range.get((row, col)).map(render_cell).unwrap_or_default()).collect();
        Some((self.first_row + row as u64, cells))
    }
}

impl Rows {
    /// Opens the file and reads its header, so that a file that cannot be imported fails
    /// here, before any row is processed.
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Rows, FileError> {
        let delimiter = opts.delimiter.map(check_delimiter).transpose()?;
        let encoding = opts.encoding.as_deref().map(encoding_for).transpose()?;
        let mut file = File::open(path).map_err(io_error)?;
        let mut head = Vec::with_capacity(SNIFF_BYTES + 1);
        file.by_ref().take(SNIFF_BYTES as u64 + 1).read_to_end(&mut head).map_err(io_error)?;
        file.rewind().map_err(io_error)?;
        if head.is_empty() {
            return Err(FileError::Empty);
        }
        if head.starts_with(b"PK\x03\x04") {
            return open_xlsx(file);
        }
        let declared_utf16 = encoding.is_some_and(|e| e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
        if let Some(what) = binary_kind(&head, declared_utf16) {
            return Err(FileError::NotTabular(what.to_owned()));
        }
        let encoding = encoding.unwrap_or_else(|| sniff_encoding(&head));
        open_csv(file, encoding, delimiter)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Trimmed, without BOM, trailing empty ones dropped; an empty one between named ones is
    /// kept as "" so that the cells still line up.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The delimiter in use for a CSV file, given or detected; `None` for XLSX.
    pub fn delimiter(&self) -> Option<u8> {
        self.delimiter
    }

    fn next_csv(&mut self) -> Option<Result<Row, RowError>> {
        let Source::Csv { reader, record } = &mut self.source else { return None };
        loop {
            match reader.read_record(record) {
                Ok(false) => return None,
                Ok(true) => {
                    let number = record.position().map_or(0, csv::Position::line);
                    let raw = record.iter().map(str::to_owned).collect();
                    if let Some(item) = shape_row(number, raw, self.headers.len()) {
                        return Some(item);
                    }
                }
                Err(e) => {
                    self.done = true;
                    let number = reader.position().line();
                    return Some(Err(RowError {
                        number,
                        message: format!("could not read the file: {e}"),
                        raw: vec![],
                    }));
                }
            }
        }
    }

    fn next_xlsx(&mut self) -> Option<Result<Row, RowError>> {
        let Source::Xlsx(sheet) = &mut self.source else { return None };
        loop {
            let (number, raw) = sheet.next_raw()?;
            if let Some(item) = shape_row(number, raw, self.headers.len()) {
                return Some(item);
            }
        }
    }
}

impl Iterator for Rows {
    type Item = Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.format {
            Format::Csv => self.next_csv(),
            Format::Xlsx => self.next_xlsx(),
        }
    }
}

fn io_error(e: io::Error) -> FileError {
    FileError::Io(e.to_string())
}

fn check_delimiter(delimiter: u8) -> Result<u8, FileError> {
    if ALLOWED_DELIMITERS.contains(&delimiter) {
        Ok(delimiter)
    } else {
        Err(FileError::BadDelimiter(char::from(delimiter).escape_default().to_string()))
    }
}

/// Resolves a name as browsers do (WHATWG labels: "latin1", "iso-8859-1" and "cp1252" all
/// mean Windows-1252, which is what such files really are), plus the spellings people type.
fn encoding_for(name: &str) -> Result<&'static Encoding, FileError> {
    let label = name.trim().to_ascii_lowercase();
    let label = match label.as_str() {
        "utf16" | "utf16le" => "utf-16le",
        "utf16be" => "utf-16be",
        "windows1252" | "win1252" => "windows-1252",
        other => other,
    };
    match Encoding::for_label(label.as_bytes()) {
        Some(encoding) if encoding != encoding_rs::REPLACEMENT => Ok(encoding),
        _ => Err(FileError::UnknownEncoding(name.to_owned())),
    }
}

/// Names what a file that is no text looks like, from its magic number or from a NUL
/// byte (which no text has, except in UTF-16, whose BOM or declaration then vouches for it).
fn binary_kind(head: &[u8], declared_utf16: bool) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 6] = [
        (b"\x89PNG", "a PNG image"),
        (b"%PDF", "a PDF document"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\xD0\xCF\x11\xE0", "an old Office file (.xls or .doc): save it as .xlsx or CSV"),
        (b"\x1F\x8B", "a gzip archive"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(what);
    }
    let utf16_bom = head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF");
    let start = &head[..head.len().min(BINARY_SNIFF_BYTES)];
    (!utf16_bom && !declared_utf16 && start.contains(&0)).then_some("binary data")
}

/// A BOM decides; otherwise a start that is not valid UTF-8 is taken for Windows-1252, what
/// Excel on Windows writes for "CSV" and a superset of Latin-1.
fn sniff_encoding(head: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(head) {
        return encoding;
    }
    // `head` holds one byte more than is judged, telling a sequence cut at the boundary
    // (the rest is in the file) from one cut by the end of the file (invalid).
    let truncated = head.len() > SNIFF_BYTES;
    let judged = &head[..head.len().min(SNIFF_BYTES)];
    match std::str::from_utf8(judged) {
        Ok(_) => encoding_rs::UTF_8,
        Err(e) if truncated && e.error_len().is_none() => encoding_rs::UTF_8,
        Err(_) => encoding_rs::WINDOWS_1252,
    }
}

fn open_csv(file: File, encoding: &'static Encoding, delimiter: Option<u8>) -> Result<Rows, FileError> {
    // Always an explicit encoding, UTF-8 included, so that stray invalid bytes later in the
    // file become U+FFFD instead of failing the row; a BOM still wins over a declaration.
    let decoder = DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding))
        .bom_override(true)
        .strip_bom(true)
        .build(BufReader::new(file));
    let mut decoded = BufReader::new(decoder);
    let (taken, header_start) = take_header_line(&mut decoded).map_err(io_error)?;
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&taken[header_start..]));
    let input = Cursor::new(taken).chain(decoded);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(input);
    let mut record = csv::StringRecord::new();
    let headers = loop {
        if !reader.read_record(&mut record).map_err(|e| FileError::Io(e.to_string()))? {
            return Err(FileError::Empty);
        }
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        if cells.iter().any(|c| !c.trim().is_empty()) {
            break cells;
        }
    };
    let headers = clean_headers(headers)?;
    let source = Source::Csv { reader: Box::new(reader), record };
    Ok(Rows { format: Format::Csv, headers, delimiter: Some(delimiter), source, done: false })
}

/// Consumes the leading blank lines and the header line (a quoted line break does not end
/// it), returning them and where the header line starts.
fn take_header_line(input: &mut impl BufRead) -> io::Result<(Vec<u8>, usize)> {
    let mut taken = Vec::new();
    let mut line_start = 0;
    let mut in_quotes = false;
    while taken.len() < HEADER_SCAN_LIMIT {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let mut used = buf.len();
        let mut line_ended = false;
        for (i, &b) in buf.iter().enumerate() {
            if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == b'\n' && !in_quotes {
                used = i + 1;
                line_ended = true;
                break;
            }
        }
        taken.extend_from_slice(&buf[..used]);
        input.consume(used);
        if line_ended {
            if !taken[line_start..].iter().all(u8::is_ascii_whitespace) {
                break;
            }
            line_start = taken.len();
        }
    }
    Ok((taken, line_start))
}

/// The candidate seen most often outside quotes; a single-column file has none and gets `,`.
fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; DETECTED_DELIMITERS.len()];
    let mut in_quotes = false;
    for &b in line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes && let Some(i) = DETECTED_DELIMITERS.iter().position(|&d| d == b) {
            counts[i] += 1;
        }
    }
    let mut best = 0;
    for (i, &count) in counts.iter().enumerate() {
        if count > counts[best] {
            best = i;
        }
    }
    DETECTED_DELIMITERS[best]
}

/// Trims, strips a BOM that a double encoding left behind, drops trailing empty names
/// (Excel's "CSV" pads rows to the widest one) and rejects a repeated name, which would
/// make the mapping ambiguous.
fn clean_headers(raw: Vec<String>) -> Result<Vec<String>, FileError> {
    let mut headers: Vec<String> =
        raw.into_iter().map(|h| h.trim().trim_start_matches('\u{feff}').trim().to_owned()).collect();
    while headers.last().is_some_and(String::is_empty) {
        headers.pop();
    }
    if headers.is_empty() {
        return Err(FileError::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    for header in headers.iter().filter(|h| !h.is_empty()) {
        if !seen.insert(header.to_lowercase()) {
            return Err(FileError::DuplicateColumn(header.clone()));
        }
    }
    Ok(headers)
}

/// Lines a row up with a header of `width` names: `None` skips a blank row, extra empty
/// cells at the end (padding, as in the header) are dropped, any other mismatch is an error.
fn shape_row(number: u64, raw: Vec<String>, width: usize) -> Option<Result<Row, RowError>> {
    let mut cells: Vec<String> = raw.iter().map(|c| c.trim().to_owned()).collect();
    if cells.iter().all(String::is_empty) {
        return None;
    }
    while cells.len() > width && cells.last().is_some_and(String::is_empty) {
        cells.pop();
    }
    if cells.len() != width {
        let message = format!("the row has {} cells, the header has {width}", raw.len());
        return Some(Err(RowError { number, message, raw }));
    }
    Some(Ok(Row { number, cells, raw }))
}

fn open_xlsx(file: File) -> Result<Rows, FileError> {
    let xlsx_error = |e: calamine::XlsxError| FileError::Xlsx(e.to_string());
    let mut workbook: Xlsx<_> = Xlsx::new(BufReader::new(file)).map_err(xlsx_error)?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| FileError::Xlsx("the workbook has no worksheet".to_owned()))?
        .map_err(xlsx_error)?;
    let first_row = range.start().map_or(1, |(row, _)| u64::from(row) + 1);
    let mut sheet = Sheet { range, next: 0, first_row };
    let headers = loop {
        let (_, cells) = sheet.next_raw().ok_or(FileError::Empty)?;
        if cells.iter().any(|c| !c.trim().is_empty()) {
            break cells;
        }
    };
    let headers = clean_headers(headers)?;
    Ok(Rows { format: Format::Xlsx, headers, delimiter: None, source: Source::Xlsx(sheet), done: false })
}

/// Renders a cell as the text a person sees, in the forms the field parsers accept: Rust's
/// shortest float form (so a whole number has no ".0") and ISO dates.
fn render_cell(cell: &Data) -> String {
    match cell {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => render_datetime(dt),
        Data::Error(e) => e.to_string(),
        Data::Empty => String::new(),
    }
}

/// A date alone when there is no time of day, a time alone when there is no date (Excel
/// stores a time as a fraction of day 0), both otherwise.
fn render_datetime(dt: &ExcelDateTime) -> String {
    let value = dt.as_f64();
    if dt.is_duration() {
        let seconds = (value * 86_400.0).round() as i64;
        return format!("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    }
    let (year, month, day, hour, minute, second, milli) = dt.to_ymd_hms_milli();
    let time = if milli == 0 {
        format!("{hour:02}:{minute:02}:{second:02}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    };
    if (0.0..1.0).contains(&value) {
        time
    } else if (hour, minute, second, milli) == (0, 0, 0, 0) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{time}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn open(bytes: &[u8]) -> Result<Rows, FileError> {
        open_with(bytes, &ReadOptions::default())
    }

    fn open_with(bytes: &[u8], opts: &ReadOptions) -> Result<Rows, FileError> {
        let dir = tempfile::tempdir().unwrap();
        // The file may be deleted once open: the handle keeps it readable on Unix.
        Rows::open(&write(&dir, "upload", bytes), opts)
    }

    fn cells(rows: Rows) -> Vec<Vec<String>> {
        rows.map(|r| r.unwrap().cells).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn reads_utf8_with_bom() {
        let rows = open("\u{feff}Name , E-Mail\n Änne ,a@example.com\n".as_bytes()).unwrap();
        assert_eq!(rows.format(), Format::Csv);
        assert_eq!(rows.delimiter(), Some(b','));
        assert_eq!(rows.headers(), strings(&["Name", "E-Mail"]));
        let row = rows.into_iter().next().unwrap().unwrap();
        assert_eq!(
            row,
            Row { number: 2, cells: strings(&["Änne", "a@example.com"]), raw: strings(&[" Änne ", "a@example.com"]) }
        );
    }

    #[test]
    fn reads_utf16le_with_bom() {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend("Vorname;Stadt\r\nJürgen;Köln\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        let rows = open(&bytes).unwrap();
        assert_eq!(rows.headers(), strings(&["Vorname", "Stadt"]));
        assert_eq!(rows.delimiter(), Some(b';'));
        assert_eq!(cells(rows), vec![strings(&["Jürgen", "Köln"])]);
    }

    #[test]
    fn reads_utf16be_with_bom() {
        let mut bytes = vec![0xFE, 0xFF];
        bytes.extend("a,b\nß,ü\n".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(cells(open(&bytes).unwrap()), vec![strings(&["ß", "ü"])]);
    }

    #[test]
    fn falls_back_to_windows_1252() {
        let rows = open(b"Name;Stadt\nM\xFCller;K\xF6ln\nB\xE4r;Z\xFCrich \x80\n").unwrap();
        assert_eq!(rows.delimiter(), Some(b';'));
        assert_eq!(cells(rows), vec![strings(&["Müller", "Köln"]), strings(&["Bär", "Zürich €"])]);
    }

    #[test]
    fn a_latin_byte_cut_by_the_end_of_the_file_is_not_utf8() {
        // 0xE4 starts a three-byte UTF-8 sequence; at the end of the file it is an "ä".
        assert_eq!(cells(open(b"a\nB\xE4").unwrap()), vec![strings(&["Bä"])]);
    }

    #[test]
    fn a_utf8_sequence_cut_by_the_sniff_window_is_still_utf8() {
        let mut text = String::from("name,note\n");
        while text.len() < SNIFF_BYTES - 20 {
            text.push_str("x,padding\n");
        }
        // The 'ä' is two bytes; its first is the last byte of the window.
        text.push_str(&"y".repeat(SNIFF_BYTES - 2 - text.len()));
        text.push_str(",ä\n");
        let bytes = text.as_bytes();
        assert!(std::str::from_utf8(&bytes[..SNIFF_BYTES]).is_err(), "the test must cut a sequence");
        let last = open(bytes).unwrap().last().unwrap().unwrap();
        assert_eq!(last.cells[1], "ä");
    }

    #[test]
    fn honours_a_declared_encoding() {
        for name in ["windows-1252", "CP1252", "latin1", "ISO-8859-1"] {
            let opts = ReadOptions { encoding: Some(name.to_owned()), ..Default::default() };
            assert_eq!(cells(open_with(b"a\n\xC4\n", &opts).unwrap()), vec![strings(&["Ä"])], "{name}");
        }
        let opts = ReadOptions { encoding: Some("utf-16".to_owned()), ..Default::default() };
        let bytes: Vec<u8> = "a\nö\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(cells(open_with(&bytes, &opts).unwrap()), vec![strings(&["ö"])]);
    }

    #[test]
    fn rejects_bad_options() {
        let opts = ReadOptions { encoding: Some("klingon".to_owned()), ..Default::default() };
        assert_eq!(open_with(b"a\n1\n", &opts).err(), Some(FileError::UnknownEncoding("klingon".to_owned())));
        let opts = ReadOptions { delimiter: Some(b':'), ..Default::default() };
        assert_eq!(open_with(b"a\n1\n", &opts).err(), Some(FileError::BadDelimiter(":".to_owned())));
    }

    #[test]
    fn detects_the_delimiter() {
        let rows = open(b"a;b;\"c,d,e\"\n1;2;3\n").unwrap();
        assert_eq!(rows.delimiter(), Some(b';'));
        assert_eq!(rows.headers(), strings(&["a", "b", "c,d,e"]));
        let rows = open(b"first name\tlast name\tcity, state\nAnn\tLee\tX\n").unwrap();
        assert_eq!(rows.delimiter(), Some(b'\t'));
        assert_eq!(cells(rows), vec![strings(&["Ann", "Lee", "X"])]);
        assert_eq!(open(b"a,b;c\n").unwrap().delimiter(), Some(b','), "ties go to the comma");
        assert_eq!(open(b"\n\n  \na;b\n1;2\n").unwrap().delimiter(), Some(b';'), "blank lines are skipped");
        let opts = ReadOptions { delimiter: Some(b'|'), ..Default::default() };
        assert_eq!(cells(open_with(b"a|b\n1|2,3\n", &opts).unwrap()), vec![strings(&["1", "2,3"])]);
    }

    #[test]
    fn quoted_cells_keep_line_breaks_and_delimiters() {
        let rows = open(b"name,note\n\"Lee, Ann\",\"line 1\nline 2, \"\"quoted\"\"\"\nBob,x\n").unwrap();
        let rows: Vec<Row> = rows.map(Result::unwrap).collect();
        assert_eq!(rows[0].cells, strings(&["Lee, Ann", "line 1\nline 2, \"quoted\""]));
        assert_eq!((rows[0].number, rows[1].number), (2, 4), "numbers are lines");
    }

    #[test]
    fn ragged_rows_are_reported_and_reading_goes_on() {
        let rows = open(b"a,b,c\n1,2,3\n4,5\n\n,,\n6,7,8,9\n10,11,12,,\n").unwrap();
        let items: Vec<_> = rows.collect();
        assert_eq!(items.len(), 4);
        assert_eq!(items[0].as_ref().unwrap().number, 2);
        let error = items[1].as_ref().unwrap_err();
        assert_eq!((error.number, error.message.as_str()), (3, "the row has 2 cells, the header has 3"));
        assert_eq!(error.raw, strings(&["4", "5"]));
        let error = items[2].as_ref().unwrap_err();
        assert_eq!((error.number, error.message.as_str()), (6, "the row has 4 cells, the header has 3"));
        let padded = items[3].as_ref().unwrap();
        assert_eq!((padded.number, padded.cells.clone()), (7, strings(&["10", "11", "12"])));
        assert_eq!(padded.raw.len(), 5);
    }

    #[test]
    fn empty_files_have_no_header() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\n\r\n  \n", b",,\n"] {
            assert_eq!(open(bytes).err(), Some(FileError::Empty), "{bytes:?}");
        }
        let rows = open(b"a,b,\n").unwrap();
        assert_eq!(rows.headers(), strings(&["a", "b"]));
        assert_eq!(rows.count(), 0);
    }

    #[test]
    fn duplicate_headers_are_rejected() {
        assert_eq!(open(b"Name,Email, name \n").err(), Some(FileError::DuplicateColumn("name".to_owned())));
        assert!(open(b"a,,,b\n1,,,2\n").is_ok(), "unnamed columns are not duplicates");
    }

    #[test]
    fn binary_files_are_not_tabular() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
        assert_eq!(open(png).err(), Some(FileError::NotTabular("a PNG image".to_owned())));
        assert_eq!(open(b"abc\0def,x\n").err(), Some(FileError::NotTabular("binary data".to_owned())));
        let message = FileError::NotTabular("a PNG image".to_owned()).to_string();
        assert_eq!(message, "the file is not a CSV or Excel (.xlsx) file: it looks like a PNG image");
    }

    #[test]
    fn reads_the_first_sheet_of_an_xlsx() {
        use rust_xlsxwriter::{ExcelDateTime as Date, Format as CellFormat, Workbook};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book.xlsx");
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let date = CellFormat::new().set_num_format("yyyy-mm-dd");
        let stamp = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm");
        for (col, header) in [" Name ", "Count", "Ratio", "Active", "Born", "Seen"].into_iter().enumerate() {
            sheet.write_string(0, col as u16, header).unwrap();
        }
        sheet.write_string(1, 0, "Änne").unwrap();
        sheet.write_number(1, 1, 42).unwrap();
        sheet.write_number(1, 2, 0.25).unwrap();
        sheet.write_boolean(1, 3, true).unwrap();
        sheet.write_datetime_with_format(1, 4, Date::from_ymd(1990, 5, 17).unwrap(), &date).unwrap();
        let seen = Date::from_ymd(2024, 1, 2).unwrap().and_hms(13, 45, 0).unwrap();
        sheet.write_datetime_with_format(1, 5, seen, &stamp).unwrap();
        sheet.write_string(3, 0, "Bob").unwrap();
        sheet.write_string(4, 6, "stray").unwrap();
        book.save(&path).unwrap();

        let rows = Rows::open(&path, &ReadOptions::default()).unwrap();
        assert_eq!((rows.format(), rows.delimiter()), (Format::Xlsx, None));
        assert_eq!(rows.headers(), strings(&["Name", "Count", "Ratio", "Active", "Born", "Seen"]));
        let items: Vec<_> = rows.collect();
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.number, 2);
        assert_eq!(first.cells, strings(&["Änne", "42", "0.25", "true", "1990-05-17", "2024-01-02T13:45:00"]));
        let second = items[1].as_ref().unwrap();
        assert_eq!((second.number, second.cells.clone()), (4, strings(&["Bob", "", "", "", "", ""])));
        let error = items[2].as_ref().unwrap_err();
        assert_eq!((error.number, error.message.as_str()), (5, "the row has 7 cells, the header has 6"));
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn xlsx_without_rows_or_without_workbook() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.xlsx");
        // An empty sheet still makes a valid workbook, which has no header row.
        rust_xlsxwriter::Workbook::new().save(&path).unwrap();
        assert_eq!(Rows::open(&path, &ReadOptions::default()).err(), Some(FileError::Empty));
        let fake = write(&dir, "fake.xlsx", b"PK\x03\x04 not really a zip");
        assert!(matches!(Rows::open(&fake, &ReadOptions::default()), Err(FileError::Xlsx(_))));
    }

    #[test]
    fn streams_a_large_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.csv");
        let mut out = io::BufWriter::new(File::create(&path).unwrap());
        writeln!(out, "id;name;email").unwrap();
        for i in 0..200_000 {
            writeln!(out, "{i};Name {i};user{i}@example.com").unwrap();
        }
        out.flush().unwrap();
        drop(out);
        let mut count = 0u64;
        for (i, row) in Rows::open(&path, &ReadOptions::default()).unwrap().enumerate() {
            let row = row.unwrap();
            assert_eq!(row.number, i as u64 + 2);
            count += 1;
        }
        assert_eq!(count, 200_000);
    }
}
