//! Text from outside klo-spec (scenario values, file names a board sent,
//! benchmark output) made safe to show: control characters, which a
//! terminal would act on (escape sequences can move the cursor, rewrite the
//! title, hide text), become visible escapes, and long values are
//! shortened so that a message stays readable.

use std::borrow::Cow;

/// True for characters a terminal may act on instead of showing: C0
/// controls, DEL, C1 controls (U+0080-U+009F; U+009B is a one-character
/// CSI), and the bidirectional overrides and isolates that reorder what
/// follows them on screen.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every character of [`is_unsafe`] written as an escape
/// (`\e`, `\n`, `\t`, `\r`, else `\u{9b}`): the text reads the same, and a
/// terminal shows it instead of acting on it. Borrowed when nothing changes.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`printable`], but keeping line breaks and tabs: for multi-line messages
/// (a board's stderr), where a line break is layout, not an attack.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for line in s.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        for part in body.split_inclusive('\t') {
            let (p, tab) = match part.strip_suffix('\t') {
                Some(p) => (p, "\t"),
                None => (part, ""),
            };
            out.push_str(&printable(p));
            out.push_str(tab);
        }
        out.push_str(nl);
    }
    Cow::Owned(out)
}

/// Longest value an error message quotes whole, in characters.
pub const QUOTE_MAX: usize = 80;

/// `s` made [`printable`] and, when longer than `max` characters, cut to
/// its start and end around `...` with the full length said:
/// `aaaa...zzzz (12345 characters)`.
pub fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return printable(s).into_owned();
    }
    let head = max * 2 / 3;
    let tail = max.saturating_sub(head).saturating_sub(3);
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!(
        "{}...{} ({n} characters)",
        printable(&start),
        printable(&end)
    )
}

/// [`shorten`] to [`QUOTE_MAX`]: how an error message quotes a value.
pub fn quote(s: &str) -> String {
    shorten(s, QUOTE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible_and_plain_text_is_untouched() {
        assert!(matches!(printable("heavy load µs"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\e[2Jb");
        assert_eq!(printable("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(printable("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(printable("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(printable_lines("one\ntwo\u{7}\n"), "one\ntwo\\u{7}\n");
        assert!(!printable("\u{1b}]0;title\u{7}").chars().any(is_unsafe));
    }

    #[test]
    fn long_values_are_shortened_with_their_length() {
        let long = "x".repeat(500);
        let s = shorten(&long, 30);
        assert!(s.len() < 60, "{s}");
        assert!(s.ends_with("(500 characters)"), "{s}");
        assert_eq!(shorten("short", 30), "short");
        assert!(quote("é".repeat(81).as_str()).chars().count() < 120);
    }
}
