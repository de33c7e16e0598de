//! `klo-spec boards`: every board of the inventory with how it is reached
//! and whether it answers. Each board gets one round trip (the check
//! script), all at once, each with its own time limit; the table goes to
//! stdout, in name order.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::check::{BoardCheck, check};
use super::inventory::Inventory;
use crate::output::Table;
use crate::render::Templates;

/// One board as `klo-spec boards` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub transport: &'static str,
    pub address: String,
    pub root: &'static str,
    pub workdir: String,
    pub reachable: bool,
    /// The check's answer, when the board answered.
    pub check: Option<BoardCheck>,
    /// Why it did not answer (the client's message).
    pub error: Option<String>,
}

fn reach(config: &super::BoardConfig, templates: &Templates, timeout: Duration) -> Listed {
    let answer = super::connect(config, templates).and_then(|b| {
        let workdir = b.workdir();
        check(b.as_ref(), templates, timeout).map(|c| (c, workdir))
    });
    let (check, error, workdir) = match answer {
        Ok((c, w)) => (Some(c), None, w),
        Err(e) => (
            None,
            Some(format!("{e:#}")),
            config
                .workdir
                .as_ref()
                .map(|w| w.display().to_string())
                .unwrap_or_default(),
        ),
    };
    Listed {
        name: config.name.clone(),
        transport: config.transport.as_str(),
        address: config.describe(),
        root: config.root.as_str(),
        workdir,
        reachable: check.is_some(),
        check,
        error,
    }
}

/// Checks every board of `inventory` at once and prints the list.
pub fn list(inventory: &Inventory, as_json: bool, timeout_s: u64) -> Result<()> {
    let templates = Templates::load(None)?;
    let timeout = Duration::from_secs(timeout_s.max(1));
    let listed: Vec<Listed> = std::thread::scope(|scope| {
        let handles: Vec<_> = inventory
            .boards
            .values()
            .map(|c| {
                let templates = &templates;
                scope.spawn(move || reach(c, templates, timeout))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if as_json {
        let json = serde_json::to_string_pretty(&listed)?;
        println!("{}", crate::text::json_safe(&json));
        return Ok(());
    }
    let mut t = Table::new(&[
        "board",
        "transport",
        "address",
        "root",
        "workdir",
        "reachable",
        "cpu",
        "round trip",
        "notes",
    ]);
    for l in &listed {
        let (cpu, ms, notes) = match (&l.check, &l.error) {
            (Some(c), _) => (
                c.machine.clone(),
                format!("{} ms", c.round_trip_ms),
                if c.missing.is_empty() {
                    format!("uid {}", c.uid.map(|u| u.to_string()).unwrap_or_default())
                } else {
                    format!(
                        "uid {}; missing: {}",
                        c.uid.map(|u| u.to_string()).unwrap_or_default(),
                        c.missing.join(" ")
                    )
                },
            ),
            (None, Some(e)) => (
                String::new(),
                String::new(),
                e.lines().last().unwrap_or_default().to_string(),
            ),
            (None, None) => Default::default(),
        };
        t.rows.push(vec![
            l.name.clone(),
            l.transport.to_string(),
            l.address.clone(),
            l.root.to_string(),
            l.workdir.clone(),
            if l.reachable { "yes" } else { "no" }.to_string(),
            cpu,
            ms,
            notes,
        ]);
    }
    println!("{}", t.to_terminal(&[]));
    Ok(())
}
