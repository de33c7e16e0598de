//! samples.csv: what the sampler saw, per cell, round and signal.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::Row;
use super::cell::parse;

/// One sampled signal of one run: the count, min, mean and max of its
/// samples during the benchmark (kHz, %, °C: the signal's name says).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SampleRow {
    pub id: String,
    #[serde(deserialize_with = "parse")]
    pub round: u32,
    pub signal: String,
    #[serde(deserialize_with = "parse")]
    pub n: u64,
    #[serde(deserialize_with = "parse")]
    pub min: f64,
    #[serde(deserialize_with = "parse")]
    pub mean: f64,
    #[serde(deserialize_with = "parse")]
    pub max: f64,
}

impl SampleRow {
    /// Decimals of the signal's values: 2 for temperatures, else 1.
    pub fn decimals(&self) -> usize {
        if self.signal.starts_with("temp_c.") {
            2
        } else {
            1
        }
    }
}

impl Serialize for SampleRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.decimals();
        let f = |v: f64| format!("{v:.d$}");
        let mut st = s.serialize_struct("SampleRow", 7)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("round", &self.round)?;
        st.serialize_field("signal", &self.signal)?;
        st.serialize_field("n", &self.n)?;
        st.serialize_field("min", &f(self.min))?;
        st.serialize_field("mean", &f(self.mean))?;
        st.serialize_field("max", &f(self.max))?;
        st.end()
    }
}

impl Row for SampleRow {
    const COLUMNS: &'static [&'static str] = &["id", "round", "signal", "n", "min", "mean", "max"];
    const NUMERIC: &'static [&'static str] = &["round", "n", "min", "mean", "max"];
}
