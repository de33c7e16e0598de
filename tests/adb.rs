//! The adb transport against a recording `adb` on PATH
//! (tests/fixtures/fake-adb.sh): it checks and logs every argument vector
//! klo-spec sends and runs the `adb shell` commands here, as adbd would on
//! the device, so the whole board side (round trip script, lock, helper
//! push, cell script) really runs.
//!
//! What this does not prove: that a real adbd passes the input through
//! and closes it when klo-spec lets go (shell protocol v2), hangs up the
//! shell when the host side drops, or passes the exit status; that
//! `adb root` restarts adbd as root on a userdebug build; that Android's
//! toybox (`head -c`, `tar`, `dd`, `taskset` with hex masks, `nohup`,
//! `setsid`) and mksh behave like this machine's tools; that SELinux lets
//! binaries run from /data/local/tmp; or that NDK builds run on a phone.
//! None of it was run on a phone. tests/adbd.rs runs the adb board through
//! the real adb client and server against a stand-in adbd, which covers
//! the shell protocol, the hang-up, the exit status and `adb root`.

use std::path::Path;
use std::process::Command;

use regex::Regex;

mod common;
use common::*;

const SERIAL: &str = "R58M42ABCDE";

/// A sandbox with the fake `adb` first on PATH and an inventory with an
/// adb board `note10` behind a remote adb server.
fn adb_board(root: &str) -> Sandbox {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let bin = sb.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("tests/fixtures/fake-adb.sh"),
        bin.join("adb"),
    )
    .unwrap();
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  note10:\n    transport: adb\n    address: {SERIAL}\n    adb_host: lab2\n    adb_port: 5038\n    root: {root}\n    workdir: {}\n    cc: cc\n",
            sb.path().join("phone").display()
        ),
    );
    sb
}

fn adb_command(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.command(args);
    let path = format!(
        "{}:{}",
        sb.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path)
        .env("FAKE_ADB_LOG", sb.path().join("adb.log"))
        .env("FAKE_ADB_SERIAL", SERIAL)
        .env("FAKE_ADB_HOST", "lab2")
        .env("FAKE_ADB_PORT", "5038")
        // Its own cache: the topology reading and the helper builds are
        // part of what the vectors show.
        .env("KLO_SPEC_CACHE", sb.path().join("cache"));
    c
}

/// The argument vectors the fake adb received, in order.
fn calls(sb: &Sandbox) -> Vec<Vec<String>> {
    std::fs::read_to_string(sb.path().join("adb.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split('\u{1f}')
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn an_adb_board_runs_a_scenario_with_the_exact_argument_vectors() {
    let sb = adb_board("adb_root");
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "phone",
            &format!(
                "boards: [note10]\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [none, light]\n"
            ),
        )
        .replace("{{ delay }}", "0"),
    );
    let out = adb_command(&sb, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for r in find(&sb.out("phone"), "cell.json") {
        let j = json(&r);
        assert_eq!(j["status"], "ok", "{j}");
        assert_eq!(j["round_trips"], 1, "one `adb shell` per cell: {j}");
    }
    let phone = sb.path().join("phone");
    let stage = Regex::new(&format!(
        r"^sh -c '\{{ \[ -d {w}/tmp \] \|\| mkdir -p {w}/tmp; \}} && F={w}/tmp/klo-run\.\$\$ && dd bs=1 count=[0-9]+ of=\$F 2>/dev/null \|\| \{{ echo klo-spec: cannot write \$F on the board >&2; exit 98; \}}; exec sh \$F'$",
        w = regex::escape(&phone.display().to_string())
    ))
    .unwrap();
    let server = ["-H", "lab2", "-P", "5038", "-s", SERIAL];
    let calls = calls(&sb);
    let mut kinds = Vec::new();
    for c in &calls {
        assert_eq!(c[..6], server, "{c:?}");
        match c[6].as_str() {
            "shell" => {
                assert_eq!(c.len(), 8, "{c:?}");
                assert!(stage.is_match(&c[7]), "{}", c[7]);
            }
            _ => assert_eq!(c.len(), 7, "{c:?}"),
        }
        kinds.push(c[6].clone());
    }
    // Checked once (shell protocol), made root once, then: the topology
    // probe, the lock, the pre-flight, the helper check, the helper push,
    // two cells.
    assert_eq!(
        kinds,
        [
            "features",
            "root",
            "wait-for-device",
            "shell",
            "shell",
            "shell",
            "shell",
            "shell",
            "shell",
            "shell"
        ]
    );
    // The helpers were built here and pushed once: a second run finds them.
    let again = adb_command(&sb, &["run", "s.yaml", "--force"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    let shells = calls_since(&sb, calls.len());
    assert_eq!(
        shells, 5,
        "topology cached, helpers present: lock, pre-flight, check, 2 cells"
    );
    assert!(
        load_pids(&sb.out("phone"))
            .iter()
            .all(|p| !klo_load_running(*p))
    );
}

fn calls_since(sb: &Sandbox, n: usize) -> usize {
    calls(sb)[n..].iter().filter(|c| c[6] == "shell").count()
}

#[test]
fn the_status_travels_in_the_data_when_adb_always_exits_0() {
    let sb = adb_board("none");
    sb.write(
        "s.yaml",
        "name: old\nboards: [note10]\nbenchmark:\n  command:\n    run: echo broken >&2; exit 7\nnetworks: [n]\niterations: 2\n",
    );
    let out = adb_command(&sb, &["run", "s.yaml"])
        .env("FAKE_ADB_OLD", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let j = json(&find(&sb.out("old"), "cell.json")[0]);
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["bench_exit"], 7);
    assert_eq!(
        j["script_exit"], 7,
        "from the script's last line, not adb's 0"
    );
    assert_eq!(j["reason"], "the benchmark exited with 7: broken");
}

#[test]
fn a_device_without_the_shell_protocol_or_not_attached_is_refused() {
    let sb = adb_board("none");
    sb.write("s.yaml", "name: x\nboards: [note10]\nnetworks: [tiny]\n");
    let out = adb_command(&sb, &["plan", "s.yaml"])
        .env("FAKE_ADB_FEATURES", "cmd stat_v2")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not speak adb's shell protocol (no `shell_v2` in `adb features`)"),
        "{err}"
    );
    let out = adb_command(&sb, &["plan", "s.yaml"])
        .env("FAKE_ADB_SERIAL", "another-phone")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("board `note10` (adb {SERIAL} via lab2:5038) is unreachable: no device {SERIAL} (adb: adb: device '{SERIAL}' not found): `adb devices` does not list it")),
        "{err}"
    );
}

#[test]
fn an_adb_call_that_never_answers_is_given_up_at_its_time_limit() {
    // connect_timeout_s: 1 gives each short adb call 21 s.
    let sb = adb_board("adb_root");
    let inv = std::fs::read_to_string(sb.path().join("boards.yaml")).unwrap();
    sb.write("boards.yaml", &format!("{inv}    connect_timeout_s: 1\n"));
    sb.write(
        "s.yaml",
        &fake_bench_scenario("hung", "boards: [note10]\n").replace("{{ delay }}", "0"),
    );
    for hang in ["features", "wait-for-device"] {
        let out = adb_command(&sb, &["plan", "s.yaml"])
            .env("FAKE_ADB_HANG", hang)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{hang}: {err}");
        assert!(
            err.contains(&format!("`adb {hang}` did not answer within 21 s")),
            "{hang}: {err}"
        );
    }
}
