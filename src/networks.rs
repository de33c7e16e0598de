//! Built-in network profiles for the reference workload: the kernel
//! sequence of a CNN inference, one kernel per layer as an inference engine
//! with fused activations runs it, with the layer's real multiply-accumulate
//! count (224x224 input). klo-probe turns MACs into device work and the
//! layer kind into host-side work.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Multiply-accumulates per device work unit: calibrated so that
/// MobileNetV1 takes roughly 10-20 ms per inference on one desktop CPU core
/// (the thread device) at `ker_scale: 1`.
pub const MACS_PER_UNIT: u64 = 50;

/// How busy the device is against the host, for the probe's networks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Regime {
    Named(RegimeName),
    /// T_ker / (T_prod + flush cost) per kernel.
    Ratio(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegimeName {
    /// The device idles: T_ker is a third of T_prod plus the flush cost.
    CpuBound,
    /// T_ker equals T_prod plus the flush cost.
    Balanced,
    /// The host idles: T_ker is three times T_prod plus the flush cost.
    GpuBound,
}

impl Regime {
    /// The ratio T_ker / (T_prod + flush cost) it asks for.
    pub fn ratio(self) -> f64 {
        match self {
            Regime::Named(RegimeName::CpuBound) => 1.0 / 3.0,
            Regime::Named(RegimeName::Balanced) => 1.0,
            Regime::Named(RegimeName::GpuBound) => 3.0,
            Regime::Ratio(r) => r,
        }
    }

    /// Its name in a network suffix: `cpu_bound`, `balanced`, `gpu_bound`,
    /// or `x<ratio>`.
    pub fn label(self) -> String {
        match self {
            Regime::Named(RegimeName::CpuBound) => "cpu_bound".into(),
            Regime::Named(RegimeName::Balanced) => "balanced".into(),
            Regime::Named(RegimeName::GpuBound) => "gpu_bound".into(),
            Regime::Ratio(r) => format!("x{r}"),
        }
    }

    /// Reads a network suffix (see [`Regime::label`]).
    pub fn parse(s: &str) -> Option<Regime> {
        match s {
            "cpu_bound" => Some(Regime::Named(RegimeName::CpuBound)),
            "balanced" => Some(Regime::Named(RegimeName::Balanced)),
            "gpu_bound" => Some(Regime::Named(RegimeName::GpuBound)),
            _ => s
                .strip_prefix('x')?
                .parse::<f64>()
                .ok()
                .filter(|r| (MIN_RATIO..=MAX_RATIO).contains(r))
                .map(Regime::Ratio),
        }
    }
}

/// The ratios a regime may ask for.
pub const MIN_RATIO: f64 = 0.01;
pub const MAX_RATIO: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Conv,
    DwConv,
    Pool,
    Fc,
    Eltwise,
    Softmax,
}

impl Kind {
    /// Host-side work units to produce one kernel of this kind (argument and
    /// layer-parameter computation): convolutions carry the most arguments.
    pub fn prod_units(self) -> u64 {
        match self {
            Kind::Conv => 20_000,
            Kind::DwConv => 16_000,
            Kind::Fc => 12_000,
            Kind::Pool | Kind::Eltwise => 8_000,
            Kind::Softmax => 6_000,
        }
    }
}

/// One kernel of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub kind: Kind,
    pub macs: u64,
}

/// A built-in network.
pub struct Profile {
    pub name: &'static str,
    pub description: &'static str,
    build: fn() -> Vec<Layer>,
}

impl Profile {
    pub fn layers(&self) -> Vec<Layer> {
        (self.build)()
    }
}

pub const BUILTIN: [Profile; 4] = [
    Profile {
        name: "mobilenet_v1",
        description: "MobileNetV1 1.0/224: 30 kernels, 0.57 GMAC",
        build: mobilenet_v1,
    },
    Profile {
        name: "squeezenet",
        description: "SqueezeNet 1.1: 39 kernels, 0.35 GMAC",
        build: squeezenet,
    },
    Profile {
        name: "resnet18",
        description: "ResNet-18: 32 kernels, 1.8 GMAC",
        build: resnet18,
    },
    Profile {
        name: "tiny",
        description: "8 small kernels, for tests and smoke runs",
        build: tiny,
    },
];

pub fn find(name: &str) -> Option<&'static Profile> {
    BUILTIN.iter().find(|p| p.name == name)
}

/// A synthetic network, `synth-N-P-K`: N identical kernels of P host work
/// units and K device work units each (for LUT grids). Its parameters.
pub fn synthetic(name: &str) -> Option<(u32, u64, u64)> {
    let rest = name.strip_prefix("synth-")?;
    let mut parts = rest.split('-').map(|p| p.parse::<u64>().ok());
    let (n, p, k) = (parts.next()??, parts.next()??, parts.next()??);
    (parts.next().is_none()
        && (1..=4096).contains(&n)
        && p <= 1 << 30
        && (1..=1 << 30).contains(&k))
    .then_some((n as u32, p, k))
}

/// A synthetic network of phases, `synth-N-P-K+synth-N-P-K...`: the
/// phases' kernels one after the other (T_prod or T_ker that change within
/// an inference, where dynamic K differs from constant K). Its phases.
pub fn synthetic_phases(name: &str) -> Option<Vec<(u32, u64, u64)>> {
    let phases: Vec<_> = name.split('+').map(synthetic).collect::<Option<_>>()?;
    (phases.iter().map(|p| p.0).sum::<u32>() <= 4096).then_some(phases)
}

/// A network name as the probe reads it: the base network and the regime
/// its suffix asks for, `NAME.REGIME` (`mobilenet_v1.gpu_bound`,
/// `synth-30-8000-20000.x2`). `Err` for a suffix that is no regime.
pub fn split_regime(name: &str) -> (&str, Option<Result<Regime, String>>) {
    match name.split_once('.') {
        None => (name, None),
        Some((base, suffix)) => (
            base,
            Some(Regime::parse(suffix).ok_or_else(|| suffix.to_string())),
        ),
    }
}

/// Whether the probe knows a network (built in or synthetic), its regime
/// suffix aside.
pub fn known(name: &str) -> bool {
    let base = split_regime(name).0;
    find(base).is_some() || synthetic_phases(base).is_some()
}

/// Mean host and device work units per kernel of a network (its regime
/// suffix aside) at scales 1, the first kernel's host work left out as the
/// statistics leave its T_prod out.
pub fn mean_units(name: &str) -> Option<(f64, f64)> {
    let base = split_regime(name).0;
    let kernels: Vec<(u64, u64)> = if let Some(p) = find(base) {
        p.layers()
            .iter()
            .map(|l| {
                (
                    l.kind.prod_units(),
                    (l.macs as f64 / MACS_PER_UNIT as f64).ceil().max(1.0) as u64,
                )
            })
            .collect()
    } else {
        synthetic_phases(base)?
            .into_iter()
            .flat_map(|(n, p, k)| std::iter::repeat_n((p, k), n as usize))
            .collect()
    };
    let n = kernels.len();
    if n < 2 {
        return None;
    }
    let prod = kernels[1..].iter().map(|k| k.0 as f64).sum::<f64>() / (n - 1) as f64;
    let ker = kernels.iter().map(|k| k.1 as f64).sum::<f64>() / n as f64;
    Some((prod, ker))
}

/// The kernel list of a network (built in or synthetic, its regime suffix
/// aside) for a probe setting, or None for a name that is neither.
pub fn kernels(name: &str, ker_scale: f64, prod_scale: f64) -> Option<String> {
    let name = split_regime(name).0;
    if let Some(profile) = find(name) {
        return Some(kernel_list(profile, ker_scale, prod_scale));
    }
    let phases = synthetic_phases(name)?;
    let mut out = format!("# {name}\n");
    for (n, p, k) in phases {
        let _ = writeln!(out, "# {n} kernels of {p} host and {k} device work units");
        let ker = ((k as f64 * ker_scale).round() as u64).max(1);
        let prod = (p as f64 * prod_scale).round() as u64;
        for _ in 0..n {
            let _ = writeln!(out, "synth {ker} {prod}");
        }
    }
    Some(out)
}

/// The kernel list klo-probe reads: `name ker_units prod_units` per line.
pub fn kernel_list(profile: &Profile, ker_scale: f64, prod_scale: f64) -> String {
    let mut out = format!("# {} ({})\n", profile.name, profile.description);
    for layer in profile.layers() {
        let ker = ((layer.macs as f64 * ker_scale) / MACS_PER_UNIT as f64)
            .ceil()
            .max(1.0) as u64;
        let prod = (layer.kind.prod_units() as f64 * prod_scale).round() as u64;
        let _ = writeln!(out, "{} {} {}", layer.name, ker, prod);
    }
    out
}

struct Net(Vec<Layer>);

impl Net {
    /// A convolution with `k`x`k` filters producing `out_hw`x`out_hw`x`cout`.
    fn conv(&mut self, k: u64, cin: u64, cout: u64, out_hw: u64) -> &mut Self {
        self.0.push(Layer {
            name: format!("conv2d_{k}x{k}"),
            kind: Kind::Conv,
            macs: out_hw * out_hw * cout * cin * k * k,
        });
        self
    }
    fn dw(&mut self, c: u64, out_hw: u64) -> &mut Self {
        self.0.push(Layer {
            name: "dwconv_3x3".into(),
            kind: Kind::DwConv,
            macs: out_hw * out_hw * c * 9,
        });
        self
    }
    fn pool(&mut self, name: &str, k: u64, c: u64, out_hw: u64) -> &mut Self {
        self.0.push(Layer {
            name: name.into(),
            kind: Kind::Pool,
            macs: out_hw * out_hw * c * k * k,
        });
        self
    }
    fn fc(&mut self, cin: u64, cout: u64) -> &mut Self {
        self.0.push(Layer {
            name: "fully_connected".into(),
            kind: Kind::Fc,
            macs: cin * cout,
        });
        self
    }
    fn eltwise(&mut self, name: &str, elements: u64) -> &mut Self {
        self.0.push(Layer {
            name: name.into(),
            kind: Kind::Eltwise,
            macs: elements,
        });
        self
    }
    fn softmax(&mut self, n: u64) -> &mut Self {
        self.0.push(Layer {
            name: "softmax".into(),
            kind: Kind::Softmax,
            macs: n * 4,
        });
        self
    }
}

fn mobilenet_v1() -> Vec<Layer> {
    let mut n = Net(Vec::new());
    n.conv(3, 3, 32, 112);
    // (channels in, channels out, output size) of the 13 separable blocks.
    let blocks: [(u64, u64, u64); 13] = [
        (32, 64, 112),
        (64, 128, 56),
        (128, 128, 56),
        (128, 256, 28),
        (256, 256, 28),
        (256, 512, 14),
        (512, 512, 14),
        (512, 512, 14),
        (512, 512, 14),
        (512, 512, 14),
        (512, 512, 14),
        (512, 1024, 7),
        (1024, 1024, 7),
    ];
    for (cin, cout, hw) in blocks {
        n.dw(cin, hw).conv(1, cin, cout, hw);
    }
    n.pool("avgpool", 7, 1024, 1).fc(1024, 1000).softmax(1000);
    n.0
}

fn squeezenet() -> Vec<Layer> {
    let mut n = Net(Vec::new());
    n.conv(3, 3, 64, 111).pool("maxpool", 3, 64, 55);
    // Fire modules: (input channels, squeeze, expand per branch, size).
    let fire = |n: &mut Net, cin: u64, s: u64, e: u64, hw: u64| {
        n.conv(1, cin, s, hw)
            .conv(1, s, e, hw)
            .conv(3, s, e, hw)
            .eltwise("concat", hw * hw * 2 * e);
    };
    fire(&mut n, 64, 16, 64, 55);
    fire(&mut n, 128, 16, 64, 55);
    n.pool("maxpool", 3, 128, 27);
    fire(&mut n, 128, 32, 128, 27);
    fire(&mut n, 256, 32, 128, 27);
    n.pool("maxpool", 3, 256, 13);
    fire(&mut n, 256, 48, 192, 13);
    fire(&mut n, 384, 48, 192, 13);
    fire(&mut n, 384, 64, 256, 13);
    fire(&mut n, 512, 64, 256, 13);
    n.conv(1, 512, 1000, 13)
        .pool("avgpool", 13, 1000, 1)
        .softmax(1000);
    n.0
}

fn resnet18() -> Vec<Layer> {
    let mut n = Net(Vec::new());
    n.conv(7, 3, 64, 112).pool("maxpool", 3, 64, 56);
    // (channels in, channels out, output size) per stage; two basic blocks each.
    for (cin, cout, hw) in [
        (64u64, 64u64, 56u64),
        (64, 128, 28),
        (128, 256, 14),
        (256, 512, 7),
    ] {
        n.conv(3, cin, cout, hw).conv(3, cout, cout, hw);
        if cin != cout {
            n.conv(1, cin, cout, hw);
        }
        n.eltwise("add", hw * hw * cout);
        n.conv(3, cout, cout, hw)
            .conv(3, cout, cout, hw)
            .eltwise("add", hw * hw * cout);
    }
    n.pool("avgpool", 7, 512, 1).fc(512, 1000).softmax(1000);
    n.0
}

fn tiny() -> Vec<Layer> {
    let mut n = Net(Vec::new());
    n.conv(3, 3, 8, 28)
        .dw(8, 28)
        .conv(1, 8, 16, 28)
        .dw(16, 14)
        .conv(1, 16, 32, 14);
    n.pool("avgpool", 14, 32, 1).fc(32, 10).softmax(10);
    n.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total_macs(p: &Profile) -> u64 {
        p.layers().iter().map(|l| l.macs).sum()
    }

    #[test]
    fn profiles_follow_the_published_layer_costs() {
        // Published totals: MobileNetV1 569M, SqueezeNet 1.1 ~350M, ResNet-18 1.8G MACs.
        let m = total_macs(find("mobilenet_v1").unwrap());
        assert!((560_000_000..580_000_000).contains(&m), "mobilenet {m}");
        let s = total_macs(find("squeezenet").unwrap());
        assert!((300_000_000..400_000_000).contains(&s), "squeezenet {s}");
        let r = total_macs(find("resnet18").unwrap());
        assert!((1_750_000_000..1_900_000_000).contains(&r), "resnet18 {r}");
    }

    #[test]
    fn kernel_counts_match_the_descriptions() {
        assert_eq!(find("mobilenet_v1").unwrap().layers().len(), 30);
        assert_eq!(find("squeezenet").unwrap().layers().len(), 39);
        assert_eq!(find("resnet18").unwrap().layers().len(), 32);
        assert_eq!(find("tiny").unwrap().layers().len(), 8);
    }

    #[test]
    fn synthetic_networks_name_their_work() {
        assert_eq!(synthetic("synth-30-8000-20000"), Some((30, 8000, 20000)));
        for bad in [
            "synth-0-1-1",
            "synth-3-1",
            "synth-3-1-1-1",
            "synth-a-1-1",
            "synth-3-1-0",
            "mobilenet_v1",
        ] {
            assert_eq!(synthetic(bad), None, "{bad}");
        }
        let k = kernels("synth-3-100-200", 2.0, 1.0).unwrap();
        assert_eq!(
            k.lines().filter(|l| *l == "synth 400 100").count(),
            3,
            "{k}"
        );
    }

    #[test]
    fn kernel_list_scales_device_and_host_work() {
        let p = find("tiny").unwrap();
        let base = kernel_list(p, 1.0, 1.0);
        let scaled = kernel_list(p, 2.0, 0.5);
        let first = |s: &str| {
            s.lines()
                .nth(1)
                .unwrap()
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let (b, s) = (first(&base), first(&scaled));
        assert_eq!(b[0], "conv2d_3x3");
        let units = |v: &[String], i: usize| v[i].parse::<u64>().unwrap();
        assert!(units(&s, 1) >= 2 * units(&b, 1) - 1);
        assert_eq!(units(&s, 2) * 2, units(&b, 2));
    }
}
