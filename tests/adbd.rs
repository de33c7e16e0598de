//! The adb transport end to end through Debian's real `adb` client and
//! server, against a device-side stand-in that speaks adb's wire protocol
//! on loopback (tests/support/adbd_standin.py via tests/common/adbd.rs:
//! shell protocol v2, sync, `adb root`; mksh as `sh` and toybox applets
//! alone on PATH, in an Android-like folder). It proves what
//! tests/adb.rs's recording `adb` cannot: how the real client and server
//! carry a round trip's input, its end and the exit status, that `adb
//! root` and the server's reconnection after it work, that a user build's
//! refusal is reported, and that a connection cut mid-cell is noticed,
//! cleaned up on the device and tried again.
//!
//! Still not proven: a real adbd (the stand-in is ours, written from the
//! protocol's description), SELinux on /data/local/tmp, Android's own
//! toybox build (Debian's lacks `dd`: the stand-in links busybox's),
//! bionic and NDK binaries, a phone's kernel, USB.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::adbd::Adbd;
use common::*;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A sandbox with a stand-in (`build`: user or userdebug) and an
/// inventory naming it `phone` with root method `root`, plus `extra`
/// inventory lines.
fn board(build: &str, root: &str, extra: &str) -> (Sandbox, Adbd) {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let adbd = Adbd::start(
        &sb.path().join("phone"),
        &["--build", build, "--offline-s", "1"],
    );
    sb.write(
        "boards.yaml",
        &format!("boards:\n{}{extra}", adbd.inventory("phone", root)),
    );
    (sb, adbd)
}

/// klo-spec, with the test's adb server and its own helper cache.
fn klo(sb: &Sandbox, adbd: &Adbd, args: &[&str]) -> Command {
    let mut c = sb.command(args);
    c.env("ANDROID_ADB_SERVER_PORT", adbd.server_port.to_string())
        .env_remove("ADB_SERVER_SOCKET")
        .env_remove("ANDROID_SERIAL")
        .env("KLO_SPEC_CACHE", sb.path().join("cache"));
    c
}

fn scenario(name: &str, delay: &str, loads: &str) -> String {
    fake_bench_scenario(
        name,
        &format!("boards: [phone]\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [{loads}]\n"),
    )
    .replace("{{ delay }}", delay)
}

fn running_as_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Waits for a cell's loads on the device (its state folder).
fn wait_for_device_loads(adbd: &Adbd) -> Vec<i32> {
    let f = adbd.workdir().join("state/loads.pid");
    wait_until("the loads to start", Duration::from_secs(60), || {
        std::fs::metadata(&f).is_ok_and(|m| m.len() > 0)
    });
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(&f)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn the_stand_in_passes_its_smoke_test_against_the_real_adb() {
    let out = Command::new(Path::new(ROOT).join("tests/support/adbd_smoke.sh"))
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", text(&out.stderr));
    assert!(said.contains("checks passed"), "{said}");
}

#[test]
fn a_userdebug_device_made_root_runs_cells_through_the_real_adb() {
    let (sb, adbd) = board("userdebug", "adb_root", "");
    sb.write("s.yaml", &scenario("phone", "0", "none, light"));
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cells = find(&sb.out("phone"), "cell.json");
    assert_eq!(cells.len(), 2);
    for c in &cells {
        let j = json(c);
        assert_eq!(j["status"], "ok", "{j}");
        assert_eq!(j["round_trips"], 1, "one `adb shell` per cell: {j}");
        assert_eq!(j["script_exit"], 0, "{j}");
    }
    let loads = load_pids(&sb.out("phone"));
    assert!(!loads.is_empty(), "the light load ran");
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    if running_as_root() {
        // Before `adb root` the stand-in runs commands as uid 2000; the
        // board's files are root's: adbd restarted as root and the server
        // reconnected.
        let state = adbd.workdir().join("state");
        assert_eq!(std::fs::metadata(state).unwrap().uid(), 0);
    }
    // Nothing of the cells is left on the device.
    let left: Vec<_> = std::fs::read_dir(adbd.workdir().join("cells"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_user_build_refuses_adb_root_and_runs_cells_as_the_shell_user() {
    let (sb, adbd) = board("user", "adb_root", "");
    sb.write("s.yaml", &scenario("retail", "0", "light"));
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`adb root` refused: adbd cannot run as root in production builds"),
        "{err}"
    );
    // The device is still there (a user build's adbd does not restart).
    let state = adbd.adb(&["get-state"]).output().unwrap();
    assert_eq!(text(&state.stdout).trim(), "device");
    sb.write(
        "boards.yaml",
        &format!("boards:\n{}", adbd.inventory("phone", "none")),
    );
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let j = json(&find(&sb.out("retail"), "cell.json")[0]);
    assert_eq!(j["status"], "ok", "{j}");
    if running_as_root() {
        let state = adbd.workdir().join("state");
        assert_eq!(std::fs::metadata(state).unwrap().uid(), 2000);
    }
}

#[test]
fn a_cell_whose_adb_connection_dropped_is_cleaned_up_and_tried_again() {
    let (sb, adbd) = board("userdebug", "adb_root", "    retries: 1\n");
    // Slow only the first time: the marker goes when the benchmark starts.
    let marker = sb.path().join("slow-once");
    std::fs::write(&marker, "").unwrap();
    let s = scenario("retried", "0", "light").replace(
        "run: sh fake-bench.sh",
        &format!(
            "run: if [ -e {m} ]; then rm {m}; sleep 60; fi; sh fake-bench.sh",
            m = marker.display()
        ),
    );
    sb.write("s.yaml", &s);
    let child = klo(&sb, &adbd, &["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let loads = wait_for_device_loads(&adbd);
    wait_until("the benchmark to start", Duration::from_secs(30), || {
        !marker.exists()
    });
    adbd.drop_connections();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The stand-in hung up the shell: the round trip script stopped the
    // first try's loads.
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    let cell = sb
        .out("retried")
        .join("cells/phone/light/cpu-current/gpu-current/net1/default/r1");
    let j = json(&cell.join("cell.json"));
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(j["earlier_attempts"][0]["retried_by"], "transport", "{j}");
    let first = json(&cell.join("attempts/1/cell.json"));
    assert_eq!(first["status"], "error", "{first}");
    // adb 29 exits 0 when the connection goes mid-command: the missing
    // status line tells.
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("the connection closed during the round trip"),
        "{first}"
    );
    // The retry checked the device again (`adb features`, `adb root`,
    // which now says it already is, `adb wait-for-device`), took the lock
    // again and ran the cell: 5.
    assert_eq!(j["round_trips"], 5, "{j}");
}

#[test]
fn stopping_klo_spec_stops_the_cell_on_the_device() {
    let (sb, adbd) = board("userdebug", "adb_root", "");
    sb.write("s.yaml", &scenario("stopped", "60", "light"));
    let child = klo(&sb, &adbd, &["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let loads = wait_for_device_loads(&adbd);
    let bench = adbd.workdir().join("state/bench.pid");
    wait_until("the benchmark to start", Duration::from_secs(30), || {
        std::fs::metadata(&bench).is_ok_and(|m| m.len() > 0)
    });
    let group: i32 = std::fs::read_to_string(&bench)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(group_alive(group));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    wait_until(
        "the device to stop the loads and the benchmark",
        Duration::from_secs(20),
        || loads.iter().all(|p| !klo_load_running(*p)) && !group_alive(group),
    );
}
