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

/// A JSON text with the characters of [`is_unsafe`] that JSON writers
/// leave raw (DEL, C1 controls, bidirectional overrides; serde_json
/// already escapes C0) written as `\uXXXX` escapes: the same JSON value,
/// nothing a terminal acts on. Such characters only occur inside strings.
pub fn json_safe(s: &str) -> Cow<'_, str> {
    // Line breaks and tabs outside strings are the layout of pretty JSON.
    let unsafe_here = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r');
    if !s.chars().any(unsafe_here) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_here(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// True for a plain number as tables write them: an optional sign, digits
/// with at most one `.`, an optional exponent, an optional `%`.
fn is_plain_number(s: &str) -> bool {
    let s = s.strip_suffix('%').unwrap_or(s);
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let digits = mant.chars().filter(char::is_ascii_digit).count();
    let mant_ok = digits > 0
        && mant.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mant.matches('.').count() <= 1;
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok
}

/// A CSV cell a spreadsheet will not run as a formula (OWASP's CSV
/// injection advice): a value starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`, unless it is a plain number
/// (`-1.5`, `+2e3`, `-12%`). A value already starting with `'` gets one
/// more, so that [`csv_unguard`] gives back exactly what was guarded.
pub fn csv_guard(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !is_plain_number(s) => {
            Cow::Owned(format!("'{s}"))
        }
        Some('\'') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// A CSV cell as [`csv_guard`] wrote it, back to its value.
pub fn csv_unguard(s: &str) -> &str {
    s.strip_prefix('\'').unwrap_or(s)
}

/// A Markdown table cell that stays one cell whatever the value holds:
/// line breaks become spaces, pipes are escaped, control characters made
/// [`printable`].
pub fn md_cell(s: &str) -> String {
    let flat = s.replace("\r\n", " ").replace(['\n', '\r'], " ");
    printable(&flat).replace('|', "\\|")
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
    fn csv_cells_never_start_a_formula_and_numbers_stay_numbers() {
        for v in [
            "=1+1",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "-",
            "+",
            "=-1",
        ] {
            let g = csv_guard(v);
            assert!(g.starts_with('\''), "{v:?} -> {g:?}");
            assert_eq!(csv_unguard(&g), v);
        }
        for v in [
            "-1.5", "+2", "-3e-4", "1e5", "-12.5%", "0", "ok", "", "a=b", "-inf",
        ] {
            let g = csv_guard(v);
            if v == "-inf" {
                assert_eq!(g, "'-inf", "not a plain number");
            } else {
                assert_eq!(g, v, "{v:?}");
            }
        }
        assert_eq!(csv_guard("'quoted"), "''quoted");
        assert_eq!(csv_unguard(&csv_guard("'quoted")), "'quoted");
    }

    #[test]
    fn markdown_cells_stay_cells_and_json_stays_json() {
        assert_eq!(md_cell("a|b\nc\r\nd\u{1b}[1m"), "a\\|b c d\\e[1m");
        let j = serde_json::to_string(&"x\u{1b}\u{9b}\u{202e}").unwrap();
        let safe = json_safe(&j);
        assert!(!safe.chars().any(is_unsafe), "{safe}");
        let pretty = serde_json::to_string_pretty(&serde_json::json!({"a": "\u{9b}"})).unwrap();
        let safe_pretty = json_safe(&pretty);
        assert!(safe_pretty.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&safe_pretty).unwrap();
        assert_eq!(v["a"], "\u{9b}");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "x\u{1b}\u{9b}\u{202e}");
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
