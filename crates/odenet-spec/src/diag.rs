//! Rendering of [`Diagnostic`]s and the mapping from byte offsets to lines and columns.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use crate::{Diagnostic, Severity};

impl Diagnostic {
    /// A problem with the file as a whole (no line, no code frame).
    pub fn whole_file(file: &Path, message: impl Into<String>, help: Option<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            help,
            source_line: None,
            width: 1,
        }
    }

    /// A problem at a line and column without a code frame (used for CSV rows, where the column
    /// is a field index rather than a character position).
    pub fn at_row(
        file: &Path,
        line: usize,
        column: usize,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            help,
            source_line: None,
            width: 1,
        }
    }

    /// The same diagnostic as a warning: the input is legal but probably not what was meant.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// True for a warning.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }

    /// Sort key giving the deterministic order (file, line, column).
    fn order_key(&self) -> (&Path, usize, usize) {
        (&self.file, self.line, self.column)
    }
}

/// Sorts diagnostics by file, line and column; problems at the same place keep the order in
/// which they were found.
pub fn sort_diagnostics(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// Rustc-like rendering:
///
/// ```text
/// error: unknown symbol `q` in the equation for `x`
///   --> lv.toml:7:11
///    |
///  7 | x = "a*x - q"
///    |            ^
///    = help: declare it in [params], or use a state or constant
/// ```
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{kind}: {}", self.message)?;
        let file = self.file.display();
        let gutter = if self.source_line.is_some() {
            self.line.to_string().len()
        } else {
            1
        };
        let pad = " ".repeat(gutter);
        match (self.line, self.column) {
            (0, _) => write!(f, "{pad} --> {file}")?,
            (line, 0) => write!(f, "{pad} --> {file}:{line}")?,
            (line, col) => write!(f, "{pad} --> {file}:{line}:{col}")?,
        }
        if let Some(src) = &self.source_line {
            let (src, column, width) = frame_window(src, self.column, self.width);
            let lead = " ".repeat(column.saturating_sub(1));
            let marks = "^".repeat(width.max(1));
            write!(
                f,
                "\n{pad}  |\n {line:>gutter$} | {src}\n{pad}  | {lead}{marks}",
                line = self.line
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n{pad}  = help: {help}")?;
        }
        Ok(())
    }
}

/// Longest source line shown whole in a code frame.
const FRAME_CHARS: usize = 120;

/// The part of a long source line shown in a code frame: a window of about [`FRAME_CHARS`]
/// characters around the underlined part, with ellipses where it was cut. Returns the text and
/// the column and width of the underline within it.
fn frame_window(src: &str, column: usize, width: usize) -> (String, usize, usize) {
    let chars: Vec<char> = src.chars().collect();
    if chars.len() <= FRAME_CHARS {
        return (src.to_string(), column, width);
    }
    let start_char = column.saturating_sub(1).min(chars.len());
    let width = width.clamp(1, FRAME_CHARS / 2);
    let from = start_char.saturating_sub(FRAME_CHARS / 4);
    let to = (from + FRAME_CHARS).min(chars.len());
    let mut text: String = chars[from..to].iter().collect();
    let mut column = start_char - from + 1;
    if from > 0 {
        text.insert(0, '…');
        column += 1;
    }
    if to < chars.len() {
        text.push('…');
    }
    (text, column, width)
}

/// A source text with its line starts, turning byte spans into located diagnostics.
pub(crate) struct Source<'a> {
    pub text: &'a str,
    pub path: &'a Path,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str, path: &'a Path) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            text,
            path,
            line_starts,
        }
    }

    /// Builds a diagnostic underlining `span` (byte offsets into the text). The column and width
    /// count characters, so the caret lines up under non-ASCII text too. A span that runs past
    /// its first line is underlined to the end of that line.
    pub fn diag(&self, span: Range<usize>, message: String, help: Option<String>) -> Diagnostic {
        let start = floor_char_boundary(self.text, span.start.min(self.text.len()));
        let end = floor_char_boundary(self.text, span.end.clamp(start, self.text.len()));
        let line_idx = match self.line_starts.binary_search(&start) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = self.line_starts[line_idx];
        let line_end = self
            .line_starts
            .get(line_idx + 1)
            .map_or(self.text.len(), |&next| next - 1);
        let line_text = self.text[line_start..line_end].trim_end_matches('\r');
        let line_text_end = line_start + line_text.len();
        let column = self.text[line_start..start].chars().count() + 1;
        let width = self.text[start..end.min(line_text_end).max(start)]
            .chars()
            .count()
            .max(1);
        Diagnostic {
            severity: Severity::Error,
            file: self.path.to_path_buf(),
            line: line_idx + 1,
            column,
            message,
            help,
            source_line: Some(line_text.to_string()),
            width,
        }
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut: for echoing input (names,
/// cells, header rows) in messages without echoing megabytes.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The largest char boundary at or below `i` (str::floor_char_boundary is not stable yet).
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        // A suggestion must keep part of what was typed: `c` is not a typo of `x`.
        .filter(|&(d, c)| d > 0 && d < word.chars().count() && d <= 2.max(c.len() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_code_frame() {
        let text = "a = 1\nb = \"x + y\"\n";
        let src = Source::new(text, Path::new("s.toml"));
        let y = text.find('y').unwrap();
        let d = src.diag(
            y..y + 1,
            "unknown symbol `y`".into(),
            Some("declare it".into()),
        );
        assert_eq!((d.line, d.column, d.width), (2, 10, 1));
        assert_eq!(
            d.to_string(),
            "error: unknown symbol `y`\n  --> s.toml:2:10\n   |\n 2 | b = \"x + y\"\n   |          ^\n   = help: declare it"
        );
    }

    #[test]
    fn whole_file_problems_have_no_frame() {
        let d = Diagnostic::whole_file(Path::new("s.toml"), "missing `states`", None);
        assert_eq!(d.to_string(), "error: missing `states`\n  --> s.toml");
    }

    #[test]
    fn columns_count_characters_and_spans_stop_at_line_end() {
        let text = "é = \"µ + z\"\r\nnext";
        let src = Source::new(text, Path::new("s.toml"));
        let z = text.find('z').unwrap();
        let d = src.diag(z..text.len(), "m".into(), None);
        assert_eq!((d.line, d.column), (1, 10));
        assert_eq!(d.source_line.as_deref(), Some("é = \"µ + z\""));
        assert_eq!(d.width, 2);
        // Out-of-range spans are clamped rather than panicking.
        let d = src.diag(1000..2000, "m".into(), None);
        assert_eq!(d.line, 2);
    }

    #[test]
    fn wide_line_numbers_widen_the_gutter() {
        let text = "\n".repeat(11) + "x";
        let src = Source::new(&text, Path::new("f"));
        let d = src.diag(11..12, "m".into(), None);
        assert_eq!(
            d.to_string(),
            "error: m\n   --> f:12:1\n    |\n 12 | x\n    | ^"
        );
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(closest("segmnt", &["segment", "stride"]), Some("segment"));
        assert_eq!(closest("zzz", &["segment", "stride"]), None);
        assert_eq!(closest("nmae", &["name", "states"]), Some("name"));
        assert_eq!(closest("c", &["x", "y"]), None);
    }
}
