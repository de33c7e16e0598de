//! How a typed field becomes a table cell and back: numbers in fixed
//! formats (so tables diff cleanly), a missing value as an empty cell.
//! Used through serde's `serialize_with` and `deserialize_with`.

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serializer};

use crate::output::{fmt_f, fmt_p};

/// A value with 1 decimal ("" when missing or not finite).
pub fn f1<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_f(*v, 1))
}

/// A value with 2 decimals.
pub fn f2<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_f(*v, 2))
}

/// A value with 3 decimals.
pub fn f3<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_f(*v, 3))
}

/// A value with 4 decimals.
pub fn f4<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_f(*v, 4))
}

/// A p-value in scientific notation, three significant digits.
pub fn p<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_p(*v))
}

/// A value or an empty cell, as `Display` writes it.
pub fn opt<T: std::fmt::Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_str(""),
    }
}

/// A cell read back: `None` when empty, else its value.
pub fn parse_opt<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
    D: Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("`{s}`: {e}")))
}

/// A cell that must hold a value, read back.
pub fn parse<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
    D: Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|e| serde::de::Error::custom(format!("`{s}`: {e}")))
}
