//! A check's verdict and the verdict counts of each check: shared by the
//! rows that hold them (`rows` re-exports them) and the terminal's colours
//! (`output`). A leaf: it uses nothing of the crate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A check's verdict: written `PASS`, `FAIL` or `INCONCLUSIVE` in every
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Pass, Verdict::Fail, Verdict::Inconclusive];

    /// The word the tables write.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// The CSS class of a report row with this verdict.
    pub fn css_class(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a verdict (PASS, FAIL or INCONCLUSIVE)")]
pub struct NotAVerdict(pub String);

impl FromStr for Verdict {
    type Err = NotAVerdict;
    fn from_str(s: &str) -> Result<Verdict, NotAVerdict> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| NotAVerdict(s.to_string()))
    }
}

/// The verdict counts of one check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckTotal {
    pub id: String,
    pub title: String,
    pub pass: usize,
    pub fail: usize,
    pub inconclusive: usize,
}

impl CheckTotal {
    /// A check with no verdict counted yet.
    pub fn new(id: &str, title: &str) -> CheckTotal {
        CheckTotal {
            id: id.to_string(),
            title: title.to_string(),
            ..CheckTotal::default()
        }
    }

    /// Counts one more verdict.
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Fail => self.fail += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
        }
    }

    /// The totals of a checklist's rows, one per run of rows of one check
    /// (a checklist lists each check's rows together), in their order.
    pub fn of<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str, Verdict)>) -> Vec<CheckTotal> {
        let mut out: Vec<CheckTotal> = Vec::new();
        for (id, title, v) in rows {
            if out.last().is_none_or(|x| x.id != id) {
                out.push(CheckTotal::new(id, title));
            }
            if let Some(last) = out.last_mut() {
                last.add(v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_the_words_of_the_tables() {
        for v in Verdict::ALL {
            assert_eq!(v.to_string().parse::<Verdict>(), Ok(v));
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::String(v.as_str().into())
            );
        }
        assert_eq!(Verdict::Inconclusive.to_string(), "INCONCLUSIVE");
        assert!("pass".parse::<Verdict>().is_err());
        assert!("".parse::<Verdict>().is_err());
    }

    #[test]
    fn totals_count_each_checks_rows() {
        let t = CheckTotal::of([
            ("C1", "one", Verdict::Pass),
            ("C1", "one", Verdict::Inconclusive),
            ("C2", "two", Verdict::Fail),
        ]);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].pass, t[0].fail, t[0].inconclusive), (1, 0, 1));
        assert_eq!((t[1].id.as_str(), t[1].fail), ("C2", 1));
    }
}
