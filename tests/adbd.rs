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

/// klo-spec, with the test's adb server and its own helper cache. HOME is
/// the server's: a server adb starts by itself (none listening) never
/// touches the user's ~/.android.
fn klo(sb: &Sandbox, adbd: &Adbd, args: &[&str]) -> Command {
    let mut c = sb.command(args);
    c.env("ANDROID_ADB_SERVER_PORT", adbd.server_port.to_string())
        .env("HOME", adbd.home())
        .env_remove("ADB_SERVER_SOCKET")
        .env_remove("ANDROID_SERIAL")
        .env("KLO_SPEC_CACHE", sb.path().join("cache"));
    c
}

/// klo-spec running in the background, killed when the test ends before
/// it does (a failed assertion): it never outlives the test's adb server,
/// whose port its adb calls would otherwise start a server on again.
struct Running(Option<std::process::Child>);

impl Running {
    fn new(child: std::process::Child) -> Running {
        Running(Some(child))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn wait_with_output(mut self) -> std::process::Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
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
    // The run builds its helpers first (its own cache) while the other
    // adbd tests run: on a loaded 2-core machine that has taken over 60 s.
    wait_until("the loads to start", Duration::from_secs(180), || {
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
    let child = run_in_background(&sb, &adbd, "s.yaml");
    let loads = wait_for_device_loads(&adbd);
    wait_until("the benchmark to start", Duration::from_secs(30), || {
        !marker.exists()
    });
    adbd.drop_connections();
    let out = child.wait_with_output();
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
    // The retry waited for the device (`adb wait-for-device`), asked for
    // root again (`adb root`, which says it already is: a device that
    // rebooted would not be), took the lock again and ran the cell: 4.
    assert_eq!(j["round_trips"], 4, "{j}");
}

#[test]
fn stopping_klo_spec_stops_the_cell_on_the_device() {
    let (sb, adbd) = board("userdebug", "adb_root", "");
    sb.write("s.yaml", &scenario("stopped", "60", "light"));
    let child = run_in_background(&sb, &adbd, "s.yaml");
    let loads = wait_for_device_loads(&adbd);
    let bench = adbd.workdir().join("state/bench.pid");
    wait_until("the benchmark to start", Duration::from_secs(120), || {
        std::fs::metadata(&bench).is_ok_and(|m| m.len() > 0)
    });
    let group: i32 = std::fs::read_to_string(&bench)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(group_alive(group));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    wait_until(
        "the device to stop the loads and the benchmark",
        Duration::from_secs(20),
        || loads.iter().all(|p| !klo_load_running(*p)) && !group_alive(group),
    );
}

/// `klo-spec run SCENARIO` left running, its stderr kept for the end.
fn run_in_background(sb: &Sandbox, adbd: &Adbd, scenario: &str) -> Running {
    klo(sb, adbd, &["run", scenario])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running::new)
        .unwrap()
}

/// Polls `done` every 50 ms for up to `limit`: whether it came true.
fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// A sandbox with a stand-in started with `args` and an inventory naming
/// it `phone` with root method `root`.
fn board_with(args: &[&str], root: &str) -> (Sandbox, Adbd) {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let adbd = Adbd::start(&sb.path().join("phone"), args);
    sb.write(
        "boards.yaml",
        &format!("boards:\n{}", adbd.inventory("phone", root)),
    );
    (sb, adbd)
}

/// The uid the device's state folder belongs to: who ran the cells.
fn state_owner(adbd: &Adbd) -> u32 {
    std::fs::metadata(adbd.workdir().join("state"))
        .unwrap()
        .uid()
}

/// What `root: auto` kept in klo-spec's cache (one file a board).
fn root_cache(sb: &Sandbox) -> Vec<serde_json::Value> {
    root_cache_files(sb).iter().map(|p| json(p)).collect()
}

fn root_cache_files(sb: &Sandbox) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(sb.path().join("cache/boards"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".root.json"))
        .collect()
}

#[test]
fn each_su_form_works_where_the_device_takes_it_and_is_refused_with_the_reason_where_not() {
    if !running_as_root() {
        eprintln!(
            "SKIPPED: the stand-in's su makes a difference only when the tests run as root (the shell user is uid 2000 then)"
        );
        return;
    }
    // A user build: `adb root` is no way in; only su.
    for (su, root) in [("magisk", "su"), ("aosp", "su_0")] {
        let (sb, adbd) = board_with(&["--build", "user", "--su", su], root);
        sb.write("s.yaml", &scenario("rooted", "0", "light"));
        let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
        assert!(out.status.success(), "{su}/{root}: {}", text(&out.stderr));
        let j = json(&find(&sb.out("rooted"), "cell.json")[0]);
        assert_eq!(j["status"], "ok", "{j}");
        assert_eq!(j["round_trips"], 1, "{j}");
        assert_eq!(state_owner(&adbd), 0, "{su}/{root}: the cells ran as root");
        let loads = load_pids(&sb.out("rooted"));
        assert!(!loads.is_empty() && loads.iter().all(|p| !klo_load_running(*p)));
    }
    // The other form on each su, and su on a device without one.
    for (su, root, says, hint) in [
        (
            "aosp",
            "su",
            "`su -c COMMAND` does not give root on this device: exited with 1: su: failed to exec",
            "use `root: su_0`",
        ),
        (
            "magisk",
            "su_0",
            "`su 0 COMMAND` does not give root on this device: exited with 127",
            "use `root: su` (`su -c`)",
        ),
        (
            "none",
            "su",
            "`su -c COMMAND` does not give root on this device: no `su` on the device",
            "the device has no `su` on its PATH",
        ),
        (
            "none",
            "su_0",
            "`su 0 COMMAND` does not give root on this device: no `su` on the device",
            "the device has no `su` on its PATH",
        ),
    ] {
        let (sb, adbd) = board_with(&["--build", "user", "--su", su], root);
        sb.write("s.yaml", &scenario("refused", "0", "light"));
        let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{su}/{root}: {err}");
        let at = format!("board `phone` (boards.yaml:5:11: `root: {root}`)");
        assert!(err.contains(&at), "{su}/{root}: {err}");
        assert!(err.contains(says), "{su}/{root}: {err}");
        assert!(err.contains(hint), "{su}/{root}: {err}");
        // Nothing ran: the state folder was never made by a cell.
        assert!(find(&sb.out("refused"), "cell.json").is_empty());
    }
}

#[test]
fn root_auto_finds_the_way_in_once_and_remembers_it() {
    if !running_as_root() {
        eprintln!("SKIPPED: the stand-in's su makes a difference only when the tests run as root");
        return;
    }
    // A user build with the userdebug su: already root? no; adb root:
    // refused by the build (not tried); su -c: refused; su 0: works.
    let (sb, adbd) = board_with(&["--build", "user", "--su", "aosp"], "auto");
    sb.write("s.yaml", &scenario("auto", "0", "light"));
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(state_owner(&adbd), 0, "the cells ran as root");
    let cache = root_cache(&sb);
    assert_eq!(cache.len(), 1, "{cache:?}");
    assert_eq!(cache[0]["root"], "su_0", "{cache:?}");
    // The next run uses it without looking again: a search that finds a
    // method writes it (and the time) again; the file stays as it was.
    let file = root_cache_files(&sb).remove(0);
    let kept = std::fs::read_to_string(&file).unwrap();
    let out = klo(&sb, &adbd, &["run", "s.yaml", "--force"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("looking again"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        kept,
        "the cached method was used, not searched for again"
    );
    // A kept method that no longer works (here: `su` on a device whose su
    // takes `su 0`) is said to be wrong and replaced by what works.
    std::fs::write(&file, kept.replace("\"su_0\"", "\"su\"")).unwrap();
    let out = klo(&sb, &adbd, &["run", "s.yaml", "--force"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "`root: su`, found by `root: auto` earlier, no longer gives root: looking again"
        ),
        "{err}"
    );
    assert_eq!(root_cache(&sb)[0]["root"], "su_0");

    // A userdebug build: `adb root`.
    let (sb, adbd) = board_with(&["--build", "userdebug"], "auto");
    sb.write("s.yaml", &scenario("auto", "0", "none"));
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(state_owner(&adbd), 0);
    assert_eq!(root_cache(&sb)[0]["root"], "adb_root");

    // A user build without su: no way in, said with every try's answer.
    let (sb, adbd) = board_with(&["--build", "user"], "auto");
    sb.write("s.yaml", &scenario("auto", "0", "none"));
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`root: auto`): no way to root found: adbd runs as uid 2000; `adb root` not tried (a user build refuses it); `su -c`: no `su` on the device; `su 0`: no `su` on the device"),
        "{err}"
    );
    assert!(err.contains("`root: none`"), "{err}");
    assert!(root_cache(&sb).is_empty());
}

#[test]
fn the_device_is_kept_awake_during_the_run_and_the_value_found_put_back() {
    let (sb, adbd) = board_with(
        &[
            "--build",
            "userdebug",
            "--settings",
            "stay_on_while_plugged_in=0",
        ],
        "adb_root",
    );
    // The benchmark reads the setting while the run holds the device.
    let s = scenario("awake", "0", "none").replace(
        "run: sh fake-bench.sh",
        "run: settings get global stay_on_while_plugged_in > stay_on.txt; sh fake-bench.sh",
    );
    sb.write("s.yaml", &s);
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let during = find(&sb.out("awake"), "stay_on.txt");
    assert_eq!(during.len(), 1, "{during:?}");
    assert_eq!(std::fs::read_to_string(&during[0]).unwrap().trim(), "7");
    assert_eq!(adbd.setting("stay_on_while_plugged_in"), "0");
    assert_eq!(
        adbd.settings_log(),
        [
            "put stay_on_while_plugged_in 7",
            "put stay_on_while_plugged_in 0"
        ]
    );
    // A run killed mid-cell (kill -9): the device puts the value back by
    // itself once the connection goes.
    let marker = sb.path().join("in-cell");
    let slow = scenario("killed", "0", "none").replace(
        "run: sh fake-bench.sh",
        &format!(
            "run: touch {}; sleep 60; sh fake-bench.sh",
            marker.display()
        ),
    );
    sb.write("k.yaml", &slow);
    let log = sb.path().join("killed.err");
    let mut child = klo(&sb, &adbd, &["run", "k.yaml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .map(Running::new)
        .unwrap();
    let said = || {
        format!(
            "klo-spec said: {}\nsettings: {:?}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            adbd.settings_log()
        )
    };
    let waited = wait_for(Duration::from_secs(120), || marker.exists());
    assert!(waited, "the cell did not start: {}", said());
    assert_eq!(adbd.setting("stay_on_while_plugged_in"), "7", "{}", said());
    child.kill();
    let back = wait_for(Duration::from_secs(120), || {
        adbd.setting("stay_on_while_plugged_in") == "0"
    });
    assert!(back, "the device did not put the value back: {}", said());
    // A setting never made is deleted again, not left at a value.
    std::fs::remove_file(
        adbd.root
            .join("data/standin/settings/global/stay_on_while_plugged_in"),
    )
    .unwrap();
    let out = klo(&sb, &adbd, &["run", "s.yaml", "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(adbd.setting("stay_on_while_plugged_in"), "null");
    assert_eq!(
        adbd.settings_log().last().map(String::as_str),
        Some("delete stay_on_while_plugged_in")
    );
}

#[test]
fn two_devices_on_one_server_are_told_apart_by_serial_and_a_server_is_reached_by_host_and_port() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let one = Adbd::start(&sb.path().join("phone-one"), &["--build", "userdebug"]);
    let two = Adbd::start_beside(
        &sb.path().join("phone-two"),
        &["--build", "userdebug"],
        &one,
    );
    // `two` through the server named by host and port (`adb -H -P`), as a
    // phone on another machine's server is.
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n{}{}    adb_host: 127.0.0.1\n    adb_port: {}\n",
            one.inventory("one", "adb_root"),
            two.inventory("two", "adb_root"),
            one.server_port
        ),
    );
    let s = fake_bench_scenario("pair", "boards: [one, two]\nmatrix:\n  load: [none]\n")
        .replace("{{ delay }}", "0")
        .replace(
            "run: sh fake-bench.sh",
            "run: getprop ro.serialno > device.txt; sh fake-bench.sh",
        );
    sb.write("s.yaml", &s);
    let out = klo(&sb, &one, &["run", "s.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (board, device) in [("one", "phone-one"), ("two", "phone-two")] {
        let cells = sb.out("pair").join("cells").join(board);
        let said = find(&cells, "device.txt");
        assert_eq!(said.len(), 1, "{board}: {said:?}");
        assert_eq!(
            std::fs::read_to_string(&said[0]).unwrap().trim(),
            device,
            "board `{board}` ran on its own device"
        );
    }
}

#[test]
fn cleaning_up_kills_only_what_klo_spec_started_on_the_device() {
    let (sb, adbd) = board_with(&["--build", "userdebug"], "adb_root");
    // An unrelated process on the device, in its own group, recorded as if
    // a killed run had left it: its PID in loads.pid and bench.pid and the
    // stale lock's keeper.
    let out = adbd
        .adb(&[
            "shell",
            "nohup sleep 600 > /dev/null 2>&1 < /dev/null & echo $!",
        ])
        .output()
        .unwrap();
    let pid: i32 = text(&out.stdout).trim().parse().expect("the pid of sleep");
    let alive = |p: i32| unsafe { libc::kill(p, 0) == 0 };
    assert!(alive(pid));
    let state = adbd.workdir().join("state");
    std::fs::create_dir_all(state.join("lock.d")).unwrap();
    for f in ["loads.pid", "bench.pid", "cell.pid", "lock.d/keeper"] {
        std::fs::write(state.join(f), format!("{pid}\n")).unwrap();
    }
    std::fs::write(
        state.join("lock.d/owner"),
        "pid 1 on elsewhere since then\n",
    )
    .unwrap();
    sb.write("s.yaml", &scenario("own", "0", "light"));
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("found a stale lock (pid 1 on elsewhere since then)"),
        "{err}"
    );
    assert!(err.contains("0 leftover process group(s) killed"), "{err}");
    assert!(alive(pid), "an unrelated process was killed");
    // And a run stopped by Ctrl-C mid-cell.
    let s = scenario("stopped", "60", "light");
    sb.write("t.yaml", &s);
    let child = run_in_background(&sb, &adbd, "t.yaml");
    let loads = wait_for_device_loads(&adbd);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    wait_until("the loads to stop", Duration::from_secs(20), || {
        loads.iter().all(|p| !klo_load_running(*p))
    });
    assert!(alive(pid), "an unrelated process was killed");
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[test]
fn an_unauthorized_device_is_said_so_with_what_to_do() {
    let (sb, adbd) = board_with_unauthorized();
    let out = klo(&sb, &adbd, &["boards", "--boards", "boards.yaml"])
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(
        said.contains(
            "device unauthorized: unlock it and accept the \"Allow USB debugging?\" prompt"
        ),
        "{said}\n{}",
        text(&out.stderr)
    );
}

/// A stand-in that never accepts this computer's key: adb lists it as
/// `unauthorized`.
fn board_with_unauthorized() -> (Sandbox, Adbd) {
    let sb = Sandbox::new();
    let adbd = Adbd::start_unauthorized(&sb.path().join("phone"));
    sb.write(
        "boards.yaml",
        &format!("boards:\n{}", adbd.inventory("phone", "none")),
    );
    (sb, adbd)
}

/// Takes `chattr +i` off the file when the test ends (or fails), so that
/// the sandbox can be removed.
struct Immutable(std::path::PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_control_file_the_device_refuses_is_reported_with_the_reason_when_probed() {
    if !running_as_root() {
        eprintln!(
            "SKIPPED: the shell user (uid 2000) and immutable files need the tests to run as root"
        );
        return;
    }
    // As the shell user (`root: none`): the fixture tree is root's.
    let (sb, adbd) = board_with(&["--build", "userdebug"], "none");
    let sys = qcom_tree(&sb, &adbd);
    let max = sys.join("devices/system/cpu/cpufreq/policy0/scaling_max_freq");
    let probe = |sb: &Sandbox| {
        let out = klo(
            sb,
            &adbd,
            &["board", "probe", "phone", "--boards", "boards.yaml"],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let said = probe(&sb);
    assert!(
        said.contains(&format!(
            "not writable: {}: permission denied: the scripts run as uid 2000 and the file is uid 0's, mode 644",
            max.display()
        )),
        "{said}"
    );
    // A scenario that pins a frequency is refused before anything runs,
    // with the file and the reason.
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "pinned",
            "boards: [phone]\nmatrix:\n  cpu_freq: [{all: max}]\n",
        )
        .replace("{{ delay }}", "0"),
    );
    let out = klo(&sb, &adbd, &["plan", "s.yaml"]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot write its cpufreq files: ")
            && err.contains("permission denied: the scripts run as uid 2000"),
        "{err}"
    );
    // As root (`adb root`) on an SELinux-enforcing device: a file root may
    // write by its mode but cannot (here made immutable, standing in for
    // the policy's refusal) is put down to SELinux.
    if !Command::new("chattr")
        .arg("+i")
        .arg(&max)
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED (the SELinux part): `chattr +i` does not work on this file system");
        return;
    }
    let _undo = Immutable(max.clone());
    sb.write(
        "boards.yaml",
        &format!(
            "{}    sysfs_root: {}\n",
            adbd.inventory("phone", "adb_root"),
            sys.display()
        )
        .replacen("  phone:", "boards:\n  phone:", 1),
    );
    let said = probe(&sb);
    assert!(
        said.contains(&format!(
            "not writable: {}: refused although root and mode 644 allow it: SELinux is enforcing (getenforce)",
            max.display()
        )),
        "{said}"
    );
}

/// A whole scenario over the real adb client and server, made root by
/// `adb root`: no load and a light one, the CPU pinned on a fixture tree
/// (to the frequencies the tree reports, as no kernel follows the writes
/// here), two rounds; a second run that finds everything done, and a third
/// that adds a round. The tree is byte for byte as it was, and no process
/// is left on the device.
#[test]
fn a_scenario_with_loads_and_frequencies_runs_over_adb_leaves_the_tree_as_found_and_resumes() {
    let (sb, adbd) = board("userdebug", "adb_root", "");
    let sys = qcom_tree(&sb, &adbd);
    // The load on the tree's cores 0 and 1: this machine has two, and the
    // tree's eight are pinned on the host as they are named.
    sb.write(
        "s.yaml",
        &(scenario("phone", "0", "none, light").replace("cores: all", "cores: [0, 1]")
            + "  cpu_freq: [{policy0: 1171200, policy4: 1862400, policy7: 2073600}]\nrounds: 2\n"),
    );
    let out = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("2 cells x 2 rounds = 4 runs, 4 to run"),
        "{err}"
    );
    let records = find(&sb.out("phone"), "cell.json");
    assert_eq!(records.len(), 4);
    for r in &records {
        let j = json(r);
        assert_eq!(j["status"], "ok", "{j}");
        assert_eq!(j["pins"]["cpu"].as_array().unwrap().len(), 3, "{j}");
        assert_eq!(j["freq_before"]["big"], 1862400, "{j}");
        assert_eq!(j["freq_after"]["prime"], 2073600, "{j}");
    }
    same_tree_but_setspeed(&sys);
    let loads = load_pids(&sb.out("phone"));
    assert!(!loads.is_empty(), "the light load ran");
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    let left: Vec<_> = std::fs::read_dir(adbd.workdir().join("cells"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let again = klo(&sb, &adbd, &["run", "s.yaml"]).output().unwrap();
    let err = text(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("4 runs, 0 to run: 4 done"), "{err}");

    let more = klo(&sb, &adbd, &["run", "s.yaml", "--rounds", "3"])
        .output()
        .unwrap();
    let err = text(&more.stderr);
    assert!(more.status.success(), "{err}");
    assert!(err.contains("6 runs, 2 to run: 4 done"), "{err}");
    assert_eq!(find(&sb.out("phone"), "cell.json").len(), 6);
    same_tree_but_setspeed(&sys);
}

/// The copy of the qcom tree holds what the fixture holds, but each
/// policy's `scaling_setspeed`: under the userspace governor the cell
/// writes it, and a kernel shows `<unsupported>` there again once the
/// governor is put back; no kernel plays that part on the stand-in's tree.
fn same_tree_but_setspeed(copy: &Path) {
    let differ =
        common::fixture::tree_differences(copy, "qcom", &|p| p.ends_with("scaling_setspeed"));
    assert!(differ.is_empty(), "{differ:?}");
}

/// A copy of the qcom fixture tree in the stand-in's folder, made the
/// board's `sysfs_root` in the sandbox's inventory; its path.
fn qcom_tree(sb: &Sandbox, adbd: &Adbd) -> std::path::PathBuf {
    let sys = adbd.root.join("sysfs");
    let copied = Command::new("cp")
        .arg("-R")
        .arg(Path::new(ROOT).join("tests/fixtures/sysfs/qcom"))
        .arg(&sys)
        .status()
        .unwrap();
    assert!(copied.success());
    let inv = std::fs::read_to_string(sb.path().join("boards.yaml")).unwrap();
    sb.write(
        "boards.yaml",
        &format!("{inv}    sysfs_root: {}\n", sys.display()),
    );
    sys
}
