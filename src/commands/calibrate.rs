//! `klo-spec calibrate BOARD`: the probe settings from the flags or a
//! scenario, the measurement (or the kept calibration), the printout.

use anyhow::Result;

use super::{default_templates, find_board, install_signal_handler, load_inventory};
use crate::board::Cancel;
use crate::error::UsageError;
use crate::output::Table;
use crate::render::Templates;
use crate::scenario;

/// `klo-spec calibrate BOARD`: measures the board (or shows what is kept).
pub(super) fn calibrate_command(a: &crate::cli::CalibrateArgs) -> Result<i32> {
    let spec = calibration_probe(a)?;
    let inventory = load_inventory(&a.boards)?;
    let config = find_board(&inventory, &a.board)?;
    let templates_dir = default_templates(&a.templates);
    let templates = Templates::load(templates_dir.as_deref())?;
    let identity = crate::board::connect(config, &templates)?.identity()?;
    let kept = crate::calibrate::cached(&a.board, &identity, &spec).filter(|_| !a.force);
    let fresh = kept.is_none();
    let cal = match kept {
        Some(c) => c,
        None => {
            let cancel = Cancel::default();
            install_signal_handler(&cancel);
            crate::run::calibrate::calibrate(
                &a.board,
                &spec,
                inventory.file.as_deref(),
                templates_dir.as_deref(),
                &cancel,
                !a.json,
            )?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&cal)?);
        return Ok(0);
    }
    print_calibration(&cal, &spec, fresh);
    Ok(0)
}

/// The probe settings `calibrate` measures: a scenario's, or the flags'.
fn calibration_probe(a: &crate::cli::CalibrateArgs) -> Result<scenario::ProbeSpec> {
    use crate::cli::{ProbeDevice, ProbeSubmit};
    use crate::scenario::raw::{Device, Submit};
    Ok(match &a.scenario {
        Some(file) => match scenario::load(file)?.benchmark {
            scenario::Benchmark::Probe(p) => p,
            scenario::Benchmark::Command(_) => {
                return Err(UsageError::new(
                    format!("{} runs a command benchmark: only the probe is calibrated", file.display()),
                    Some("give a scenario whose benchmark is `probe`, or the probe's settings as flags".into()),
                )
                .into());
            }
        },
        None => scenario::ProbeSpec {
            device: match a.device {
                ProbeDevice::Auto => Device::Auto,
                ProbeDevice::Opencl => Device::Opencl,
                ProbeDevice::Thread => Device::Thread,
            },
            submit: match a.submit {
                ProbeSubmit::Native => Submit::Native,
                ProbeSubmit::Deferred => Submit::Deferred,
            },
            ..scenario::ProbeSpec::default()
        },
    })
}

/// A calibration as `calibrate` prints it: the work units' costs, the
/// regimes' scales, where it comes from.
fn print_calibration(cal: &crate::calibrate::Calibration, spec: &scenario::ProbeSpec, fresh: bool) {
    let mut t = Table::new(&["quantity", "value", "between-round CV %"]);
    let cv = |k: &str| {
        cal.spread_pct
            .get(k)
            .map(|v| format!("{v:.1}"))
            .unwrap_or_default()
    };
    t.rows.push(vec![
        "host work unit (T_prod, flushes)".into(),
        format!("{:.4} ns", 1e3 * cal.host_us_per_unit),
        cv("host"),
    ]);
    t.rows.push(vec![
        "device work unit (T_ker)".into(),
        format!("{:.4} ns", 1e3 * cal.device_us_per_unit),
        cv("device"),
    ]);
    t.rows.push(vec![
        "flush, beyond its host units".into(),
        format!("{:.2} us", cal.flush_fixed_us),
        cv("flush_fixed"),
    ]);
    t.rows.push(vec![
        format!("flush at flush_units {}", spec.flush_units),
        format!("{:.2} us", cal.flush_us(spec.flush_units)),
        String::new(),
    ]);
    println!("{}", t.to_terminal(&[]));
    let mut r = Table::new(&["network", "cpu_bound", "balanced", "gpu_bound"]);
    for n in ["mobilenet_v1", "squeezenet", "resnet18"] {
        let scale = |name: scenario::raw::RegimeName| {
            cal.ker_scale(n, spec, scenario::raw::Regime::Named(name))
                .map(|k| format!("{k:.4}"))
                .unwrap_or_default()
        };
        r.rows.push(vec![
            n.into(),
            scale(scenario::raw::RegimeName::CpuBound),
            scale(scenario::raw::RegimeName::Balanced),
            scale(scenario::raw::RegimeName::GpuBound),
        ]);
    }
    println!("\nker_scale per regime (T_ker / (T_prod + flush cost) = 1/3, 1, 3):");
    println!("{}", r.to_terminal(&[]));
    println!(
        "\nboard {} ({}), probe {}, device {}: {} {} ({} rounds; the run is in {})",
        cal.board,
        cal.identity,
        cal.probe,
        cal.ran_on.as_deref().unwrap_or("?"),
        if fresh { "measured at" } else { "kept from" },
        cal.measured_at,
        cal.rounds,
        cal.source
    );
}
