//! Frequency settings of the `cpu_freq` and `gpu_freq` axes: their YAML
//! forms (with hand-written deserializers for clear messages), JSON Schemas
//! and cell-id spellings.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A frequency value: `min`, `max`, a frequency in kHz, a percentage of the
/// range (`50%`, rounded to the nearest available frequency), or `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FreqValue {
    Min,
    Max,
    Khz(u64),
    Percent(u32),
    Keep,
}

impl FreqValue {
    /// The cell-id spelling: `min`, `max`, `1804800`, `50pct`, `keep`.
    pub fn slug(&self) -> String {
        match self {
            FreqValue::Min => "min".into(),
            FreqValue::Max => "max".into(),
            FreqValue::Khz(k) => k.to_string(),
            FreqValue::Percent(p) => format!("{p}pct"),
            FreqValue::Keep => "keep".into(),
        }
    }

    fn parse_str(v: &str) -> Option<FreqValue> {
        match v {
            "min" => Some(FreqValue::Min),
            "max" => Some(FreqValue::Max),
            "keep" => Some(FreqValue::Keep),
            _ => {
                if let Some(p) = v.strip_suffix('%') {
                    p.trim().parse::<u32>().ok().map(FreqValue::Percent)
                } else {
                    v.parse::<u64>().ok().map(FreqValue::Khz)
                }
            }
        }
    }
}

impl fmt::Display for FreqValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreqValue::Percent(p) => write!(f, "{p}%"),
            other => f.write_str(&other.slug()),
        }
    }
}

impl Serialize for FreqValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FreqValue::Khz(k) => s.serialize_u64(*k),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

struct FreqValueVisitor;
impl<'de> Visitor<'de> for FreqValueVisitor {
    type Value = FreqValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("`min`, `max`, `keep`, a frequency in kHz such as 1804800, or a percentage such as `50%`")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<FreqValue, E> {
        Ok(FreqValue::Khz(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<FreqValue, E> {
        Err(E::invalid_value(de::Unexpected::Signed(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<FreqValue, E> {
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FreqValue, E> {
        FreqValue::parse_str(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de> Deserialize<'de> for FreqValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FreqValueVisitor)
    }
}

fn freq_value_schema() -> serde_json::Value {
    serde_json::json!({
        "oneOf": [
            {"enum": ["min", "max", "keep"]},
            {"type": "integer", "minimum": 1, "description": "kHz"},
            {"type": "string", "pattern": "^[0-9]{1,3}%$", "description": "percent of the range"}
        ]
    })
}

/// A CPU frequency setting: `current` (leave the board as it is), or a map
/// from cluster (`all`, `little`, `mid`, `big`, `prime`, `policyN`,
/// `others`) to a frequency value: `{all: min}`, `{big: max, little: min,
/// others: keep}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuFreq {
    Current,
    Clusters(BTreeMap<String, FreqValue>),
}

impl CpuFreq {
    /// The cell-id segment: `cpu-current`, `cpu-min`, `cpu-big-max.little-min`.
    pub fn slug(&self) -> String {
        match self {
            CpuFreq::Current => "cpu-current".into(),
            CpuFreq::Clusters(m) => {
                if let (1, Some(v)) = (m.len(), m.get("all")) {
                    return format!("cpu-{}", v.slug());
                }
                let parts: Vec<String> =
                    m.iter().map(|(c, v)| format!("{c}-{}", v.slug())).collect();
                format!("cpu-{}", parts.join("."))
            }
        }
    }

    pub fn is_current(&self) -> bool {
        match self {
            CpuFreq::Current => true,
            CpuFreq::Clusters(m) => m.values().all(|v| *v == FreqValue::Keep),
        }
    }
}

impl fmt::Display for CpuFreq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpuFreq::Current => f.write_str("current"),
            CpuFreq::Clusters(m) => {
                let parts: Vec<String> = m.iter().map(|(c, v)| format!("{c}: {v}")).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

impl Serialize for CpuFreq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CpuFreq::Current => s.serialize_str("current"),
            CpuFreq::Clusters(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CpuFreq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CpuFreq;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`current` or a map from cluster to frequency such as {all: min} or {big: max, little: min}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CpuFreq, E> {
                if v == "current" {
                    Ok(CpuFreq::Current)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CpuFreq, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(cluster) = map.next_key::<String>()? {
                    let value = map.next_value::<FreqValue>()?;
                    if out.insert(cluster.clone(), value).is_some() {
                        return Err(de::Error::custom(format!(
                            "cluster `{cluster}` given twice"
                        )));
                    }
                }
                Ok(CpuFreq::Clusters(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for CpuFreq {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CpuFreq".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`current`, or a map from cluster (`all`, `little`, `mid`, `big`, `prime`, `policyN`, `others`) to `min`, `max`, `keep`, a frequency in kHz, or a percentage (`50%`).",
            "oneOf": [
                {"const": "current"},
                {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": "^(all|little|mid|big|prime|others|policy[0-9]+)$"},
                    "additionalProperties": freq_value_schema()
                }
            ]
        })
    }
}

/// A GPU frequency setting: `current`, `min`, `max`, a frequency in kHz, or a
/// percentage (`50%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GpuFreq {
    Current,
    Set(FreqValue),
}

impl GpuFreq {
    pub fn slug(&self) -> String {
        match self {
            GpuFreq::Current => "gpu-current".into(),
            GpuFreq::Set(v) => format!("gpu-{}", v.slug()),
        }
    }

    pub fn is_current(&self) -> bool {
        matches!(self, GpuFreq::Current | GpuFreq::Set(FreqValue::Keep))
    }
}

impl fmt::Display for GpuFreq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuFreq::Current => f.write_str("current"),
            GpuFreq::Set(v) => v.fmt(f),
        }
    }
}

impl Serialize for GpuFreq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GpuFreq::Current => s.serialize_str("current"),
            GpuFreq::Set(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for GpuFreq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GpuFreq;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`current`, `min`, `max`, a frequency in kHz such as 585000, or a percentage such as `50%`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<GpuFreq, E> {
                Ok(GpuFreq::Set(FreqValue::Khz(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<GpuFreq, E> {
                Err(E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<GpuFreq, E> {
                Err(E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GpuFreq, E> {
                if v == "current" {
                    return Ok(GpuFreq::Current);
                }
                FreqValue::parse_str(v)
                    .map(GpuFreq::Set)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for GpuFreq {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GpuFreq".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut s = freq_value_schema();
        s["oneOf"][0]["enum"] = serde_json::json!(["current", "min", "max", "keep"]);
        s["description"] =
            "`current`, `min`, `max`, a frequency in kHz, or a percentage (`50%`).".into();
        schemars::Schema::try_from(s).expect("a JSON object is a schema")
    }
}

/// `devfreq`: a glob on devfreq device names (`class/devfreq/<name>`: a
/// memory bus, DDR, an interconnect) to the value each matching device is
/// pinned to, in the device's own unit (the numbers its
/// `available_frequencies` lists).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct DevfreqSetting(pub BTreeMap<String, FreqValue>);

impl JsonSchema for DevfreqSetting {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DevfreqSetting".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A map from a glob on devfreq device names (`*ddr*`, `*bw*`, `*dmc*`) to `min`, `max`, a value of the device's `available_frequencies`, or a percentage of its range (`50%`).",
            "type": "object",
            "minProperties": 1,
            "additionalProperties": freq_value_schema()
        })
    }
}
