//! The ssh transport end to end, against a real OpenSSH server on loopback
//! (tests/common/sshd.rs, started by each test): a scenario on an `ssh`
//! board, one round trip and no new handshake per cell, a connection
//! dropped mid-cell (the board cleans up by itself; a retry reconnects),
//! the board lock (a second run refused with host and PID; a stale lock
//! cleaned up first), `klo-spec boards`, and two boards run in parallel.
//! The "board" is this machine reached through sshd: what differs on a real
//! board (its kernel, its tools, the network) is not exercised here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::sshd::Sshd;
use common::*;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A sandbox with a running sshd and an inventory naming it `pi` (work
/// folder in the sandbox), plus `extra` inventory lines.
fn ssh_board(extra: &str) -> (Sandbox, Sshd) {
    let sb = Sandbox::new();
    let sshd = Sshd::start(&sb.path().join("sshd"));
    copy_fake_bench(&sb);
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  pi:\n    transport: ssh\n    address: kloboard\n    ssh_config: {}\n    workdir: {}\n{extra}",
            sshd.ssh_config().display(),
            sb.path().join("pi").display()
        ),
    );
    (sb, sshd)
}

fn pi_state(sb: &Sandbox) -> PathBuf {
    sb.path().join("pi/state")
}

/// Files left in the board's state folder (saved values, PIDs, the lock).
/// What the `pi` board's state folder still holds: its non-empty entries
/// (a finished cell empties its PID files rather than removing them).
fn state_left(sb: &Sandbox) -> Vec<String> {
    std::fs::read_dir(pi_state(sb))
        .map(|d| {
            d.flatten()
                .filter(|e| e.metadata().is_ok_and(|m| m.is_dir() || m.len() > 0))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn scenario(name: &str, boards: &str, delay: &str, nets: &str) -> String {
    fake_bench_scenario(
        name,
        &format!("boards: [{boards}]\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n"),
    )
    .replace("{{ delay }}", delay)
    .replace("networks: [net1]", &format!("networks: [{nets}]"))
}

#[test]
fn a_scenario_runs_on_an_ssh_board_with_one_round_trip_and_no_new_handshake_per_cell() {
    let (sb, sshd) = ssh_board("");
    sb.write("s.yaml", &scenario("viassh", "pi", "0", "net1, net2, net3"));
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = find(&sb.out("viassh"), "cell.json");
    assert_eq!(records.len(), 3);
    for r in &records {
        let j = json(r);
        assert_eq!(j["status"], "ok", "{j}");
        assert_eq!(j["round_trips"], 1, "{j}");
        assert_eq!(j["loads"]["alive_after"], j["loads"]["started"], "{j}");
        // The folder came back from the board.
        let dir = r.parent().unwrap();
        for f in [
            "cell.sh",
            "bench.log",
            "cell.status",
            "stat.after",
            "script.out",
        ] {
            assert!(dir.join(f).is_file(), "{f} pulled");
        }
    }
    // One handshake for the whole run (probe, lock, helpers, 3 cells): the
    // master connection carried every session.
    assert_eq!(
        sshd.handshakes(),
        1,
        "{}",
        std::fs::read_to_string(sshd.dir.join("sshd.log")).unwrap()
    );
    assert!(
        load_pids(&sb.out("viassh"))
            .iter()
            .all(|p| !klo_load_running(*p))
    );
    assert!(
        state_left(&sb).is_empty(),
        "lock released, nothing saved: {:?}",
        state_left(&sb)
    );
    // Cell folders on the board went once pulled.
    assert_eq!(
        std::fs::read_dir(sb.path().join("pi/cells"))
            .unwrap()
            .count(),
        0
    );
    let meta = json(&sb.out("viassh").join("meta.json"));
    assert_eq!(meta["boards"]["pi"]["transport"], "ssh kloboard");

    // What a cell costs on the board's side, counted by the server: the
    // sessions of a 4-cell run minus those of a 1-cell run (the lock,
    // helpers and topology are per run), per extra cell. With connection
    // sharing a cell needs at most 3 connections' worth of commands
    // (opening the connection again, taking the lock again, the round trip
    // itself); on a healthy connection exactly the 1 round trip that
    // cell.json counts.
    let sessions_of = |name: &str, nets: &str| {
        sb.write("s.yaml", &scenario(name, "pi", "0", nets));
        let before = sshd.sessions();
        let out = sb.run(&["run", "s.yaml"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let trips: u64 = find(&sb.out(name), "cell.json")
            .iter()
            .map(|r| json(r)["round_trips"].as_u64().unwrap())
            .sum();
        (sshd.sessions() - before, trips)
    };
    let (one, one_trips) = sessions_of("viassh1", "net1");
    let (four, four_trips) = sessions_of("viassh4", "net1, net2, net3, net4");
    let per_cell = (four - one) as f64 / 3.0;
    assert!(
        per_cell <= 3.0,
        "{per_cell} sessions per cell ({one} for 1 cell, {four} for 4)"
    );
    assert_eq!(
        (four - one) as u64,
        four_trips - one_trips,
        "the server's sessions per extra cell are the round trips cell.json counts"
    );
    assert_eq!(four_trips, 4);
}

/// Waits for a cell's loads on the `pi` board (its state folder).
fn wait_for_pi_loads(sb: &Sandbox) -> Vec<i32> {
    let f = pi_state(sb).join("loads.pid");
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
fn a_dropped_connection_mid_cell_leaves_no_load_and_loses_the_board_after_its_retries() {
    let (sb, sshd) = ssh_board("    retries: 0\n");
    sb.write("s.yaml", &scenario("dropped", "pi", "60", "net1, net2"));
    let child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let loads = wait_for_pi_loads(&sb);
    assert!(loads.iter().all(|p| klo_load_running(*p)));
    assert!(sshd.drop_connections() > 0);
    // The board notices its input closed and cleans up by itself.
    wait_until(
        "the board to stop the loads",
        Duration::from_secs(20),
        || loads.iter().all(|p| !klo_load_running(*p)),
    );
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("board `pi`: lost"), "{err}");
    let j = json(&find(&sb.out("dropped"), "cell.json")[0]);
    assert_eq!(j["status"], "error", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("board `pi` (ssh kloboard) is unreachable"),
        "{j}"
    );
    // The second cell was not run: the board was lost.
    assert_eq!(find(&sb.out("dropped"), "cell.json").len(), 1);
    assert!(err.contains("not_run"), "{err}");
    // meta.json says so (from the run's `Lost` event) and counts one run.
    let meta = json(&sb.out("dropped").join("meta.json"));
    assert!(
        meta["boards"]["pi"]["lost"]
            .as_str()
            .is_some_and(|w| w.contains("connection closed")),
        "{meta}"
    );
    assert_eq!(meta["run"]["runs_run"], 1, "{meta}");
    wait_until(
        "the board's state to be clean",
        Duration::from_secs(20),
        || state_left(&sb).is_empty(),
    );
    // The board is usable again at once.
    sb.write("s.yaml", &scenario("dropped", "pi", "0", "net1, net2"));
    let again = sb.run(&["run", "s.yaml"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn a_cell_whose_connection_dropped_is_tried_again_over_a_new_connection() {
    let (sb, sshd) = ssh_board("    retries: 1\n");
    // Slow only the first time: the marker goes when the benchmark starts.
    let marker = sb.path().join("slow-once");
    std::fs::write(&marker, "").unwrap();
    let s = scenario("retried", "pi", "0", "net1").replace(
        "run: sh fake-bench.sh",
        &format!(
            "run: if [ -e {m} ]; then rm {m}; sleep 60; fi; sh fake-bench.sh",
            m = marker.display()
        ),
    );
    sb.write("s.yaml", &s);
    let child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let loads = wait_for_pi_loads(&sb);
    wait_until("the benchmark to start", Duration::from_secs(20), || {
        !marker.exists()
    });
    sshd.drop_connections();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    let cell = sb
        .out("retried")
        .join("cells/pi/light/cpu-current/gpu-current/net1/default/r1");
    let j = json(&cell.join("cell.json"));
    assert_eq!(j["status"], "ok", "{j}");
    // The try whose connection dropped is kept for inspection.
    assert_eq!(j["earlier_attempts"][0]["retried_by"], "transport", "{j}");
    assert_eq!(json(&cell.join("attempts/1/cell.json"))["status"], "error");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .starts_with("tried 1 time(s) before, the connection was lost"),
        "{j}"
    );
    // The retry opened a new connection and took the board's lock again.
    assert_eq!(j["round_trips"], 3, "{j}");
    assert_eq!(sshd.handshakes(), 2);
}

#[test]
fn a_lost_attempt_is_retried_by_the_scenario_once_the_boards_own_retries_are_used_up() {
    // The board gives up at the first drop (`retries: 0` in the inventory);
    // the scenario's `retry_on: [lost]` runs the cell again, over a new
    // connection, and the board is not lost.
    let (sb, sshd) = ssh_board("    retries: 0\n");
    let marker = sb.path().join("slow-once");
    std::fs::write(&marker, "").unwrap();
    let s = scenario("layers", "pi", "0", "net1, net2").replace(
        "run: sh fake-bench.sh",
        &format!(
            "run: if [ {{{{ network }}}} = net2 ] && [ -e {m} ]; then rm {m}; sleep 60; fi; sh fake-bench.sh",
            m = marker.display()
        ),
    ) + "retries: 1\nretry_on: [lost]\n";
    sb.write("s.yaml", &s);
    let child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cell = |net: &str| {
        sb.out("layers").join(format!(
            "cells/pi/light/cpu-current/gpu-current/{net}/default/r1"
        ))
    };
    wait_until("net1 to finish", Duration::from_secs(60), || {
        cell("net1").join("cell.json").is_file()
    });
    let net1 = std::fs::read(cell("net1").join("cell.json")).unwrap();
    wait_until("net2's benchmark to start", Duration::from_secs(60), || {
        !marker.exists()
    });
    let loads = wait_for_pi_loads(&sb);
    assert!(sshd.drop_connections() > 0);
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("(retry_on: lost); attempt 2 of 2 (retries: 1)"),
        "{err}"
    );
    assert!(!err.contains("lost:"), "the board was not lost: {err}");
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    let j = json(&cell("net2").join("cell.json"));
    assert_eq!(
        (j["status"].as_str(), j["attempt"].as_u64()),
        (Some("ok"), Some(2)),
        "{j}"
    );
    assert_eq!(j["earlier_attempts"][0]["retried_by"], "scenario", "{j}");
    let first = json(&cell("net2").join("attempts/1/cell.json"));
    assert_eq!(first["status"], "error", "{first}");
    assert!(
        first["reason"].as_str().unwrap().contains("is unreachable"),
        "{first}"
    );
    assert_eq!(std::fs::read(cell("net1").join("cell.json")).unwrap(), net1);
    wait_until(
        "the board's state to be clean",
        Duration::from_secs(20),
        || state_left(&sb).is_empty(),
    );
    // The next run has nothing to do.
    let again = sb.run(&["run", "s.yaml"]);
    assert!(
        text(&again.stderr).contains("layers: 2 cells, 0 to run: 2 done"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_second_run_on_an_ssh_board_is_refused_with_the_holders_host_and_pid() {
    let (sb, _sshd) = ssh_board("");
    sb.write("long.yaml", &scenario("first", "pi", "60", "net1"));
    sb.write("short.yaml", &scenario("second", "pi", "0", "net1"));
    let mut first = sb
        .command(&["run", "long.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let loads = wait_for_pi_loads(&sb);
    let out = sb.run(&["run", "short.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        err.contains(&format!(
            "board `pi` is in use by another klo-spec run (pid {} on {}",
            first.id(),
            host.trim()
        )),
        "{err}"
    );
    assert!(!sb.out("second").exists(), "a refused run writes nothing");
    assert!(
        loads.iter().all(|p| klo_load_running(*p)),
        "the first run's cell goes on"
    );
    unsafe { libc::kill(first.id() as i32, libc::SIGINT) };
    first.wait().unwrap();
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    wait_until("the lock to go", Duration::from_secs(20), || {
        state_left(&sb).is_empty()
    });
}

#[test]
fn a_stale_lock_is_cleaned_up_first_then_the_run_proceeds() {
    let (sb, _sshd) = ssh_board("");
    // What a board looks like after its runner and lock process died
    // mid-cell: a lock whose holder is gone, a load still running, a
    // value still changed (`knob` was 3, the cell set 5).
    let helpers = sb.run(&["helpers"]);
    let load_bin = text(&helpers.stdout).lines().next().unwrap().to_string();
    let mut load = std::process::Command::new(&load_bin)
        .args(["1000", "2000", "30"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let state = pi_state(&sb);
    std::fs::create_dir_all(state.join("lock.d")).unwrap();
    std::fs::write(state.join("lock.d/keeper"), "999999\n").unwrap();
    std::fs::write(
        state.join("lock.d/owner"),
        "pid 4242 on otherhost since 2025-01-01T00:00:00Z\n",
    )
    .unwrap();
    std::fs::write(state.join("loads.pid"), format!("{}\n", load.id())).unwrap();
    let knob = sb.path().join("knob");
    std::fs::write(&knob, "5\n").unwrap();
    std::fs::write(state.join("saved"), format!("v\t{}\t3\n", knob.display())).unwrap();

    sb.write("s.yaml", &scenario("stale", "pi", "0", "net1"));
    let out = sb.run(&["run", "s.yaml"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("found a stale lock (pid 4242 on otherhost since 2025-01-01T00:00:00Z); cleaned up first: 1 leftover process group(s) killed, saved values put back"), "{err}");
    wait_until("the stale load to die", Duration::from_secs(5), || {
        load.try_wait().unwrap().is_some()
    });
    assert_eq!(std::fs::read_to_string(&knob).unwrap().trim(), "3");
    assert!(state_left(&sb).is_empty(), "{:?}", state_left(&sb));
}

#[test]
fn boards_lists_every_board_with_its_reachability() {
    let (sb, _sshd) = ssh_board(
        "  gone:\n    transport: ssh\n    address: nobody@127.0.0.1:1\n    connect_timeout_s: 3\n",
    );
    // An address with a port suffix is not how ssh takes ports: ssh fails
    // to resolve it, which is what an unreachable board looks like.
    let out = sb.run(&["boards", "--boards", "boards.yaml", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("local")["reachable"], true);
    let pi = by_name("pi");
    assert_eq!(pi["reachable"], true, "{pi}");
    assert_eq!(pi["transport"], "ssh");
    assert_eq!(pi["check"]["machine"], std::env::consts::ARCH);
    let gone = by_name("gone");
    assert_eq!(gone["reachable"], false);
    assert!(
        gone["error"]
            .as_str()
            .unwrap()
            .contains("board `gone` (ssh nobody@127.0.0.1:1) is unreachable: ssh: "),
        "{gone}"
    );
    let table = sb.run(&["boards", "--boards", "boards.yaml"]);
    let t = text(&table.stdout);
    assert!(
        t.contains("reachable") && t.contains(" pi ") && t.contains(" yes "),
        "{t}"
    );
}

/// Two boards (this machine and the ssh board) in one scenario: their cells
/// run at the same time. Prints the numbers (`cargo test -- --nocapture`).
#[test]
fn two_boards_run_in_parallel() {
    let (sb, _sshd) = ssh_board("");
    sb.write("s.yaml", &scenario("both", "local, pi", "2", "net1, net2"));
    let t = Instant::now();
    let out = sb.run(&["run", "s.yaml"]);
    let wall = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cells: Vec<serde_json::Value> = find(&sb.out("both"), "cell.json")
        .iter()
        .map(|p| json(p))
        .collect();
    assert_eq!(cells.len(), 4);
    let per_board = |b: &str| -> f64 {
        cells
            .iter()
            .filter(|c| c["board"] == b)
            .map(|c| c["wall_s"].as_f64().unwrap())
            .sum()
    };
    let (local, pi) = (per_board("local"), per_board("pi"));
    let run_wall = json(&sb.out("both").join("meta.json"))["run"]["wall_s"]
        .as_f64()
        .unwrap();
    eprintln!(
        "two boards: cells {local:.1} s on local + {pi:.1} s on pi = {:.1} s; the run's cells took {run_wall:.1} s (the whole command {wall:.1} s)",
        local + pi
    );
    // Serial would take at least the sum; parallel takes about the longer.
    assert!(
        run_wall < 0.8 * (local + pi),
        "not parallel: {run_wall} s for {local} + {pi} s of cells"
    );
}

/// A scenario on `pi` whose benchmark runs `hostile` (shell lines, in the
/// cell's push folder on the board; the cell folder is `..`) and then
/// prints a complete log.
fn hostile_scenario(sb: &Sandbox, name: &str, hostile: &str, extra: &str) {
    let run = format!(
        "run: |\n      {}\n      sh fake-bench.sh {{{{ iterations }}}} 0 {{{{ network }}}}\n",
        hostile.trim().replace('\n', "\n      ")
    );
    sb.write(
        "s.yaml",
        &format!(
            "name: {name}\nboards: [pi]\nbenchmark:\n  command:\n    {run}    push: [fake-bench.sh]\nnetworks: [net1]\niterations: 3\n{extra}"
        ),
    );
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file()
                && std::fs::read(e.path())
                    .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                hits.push(e.path());
            }
        }
    }
    hits
}

#[test]
fn links_and_special_files_a_board_sends_back_are_refused_and_no_host_file_is_read_or_written() {
    let (sb, _sshd) = ssh_board("");
    // A host file the board points at, and a host folder it aims the next
    // attempt's files at.
    let secret = sb.write("secret.txt", "KLO v1 info secret=ssh-board-exfiltrated\n");
    let outside = sb.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    hostile_scenario(
        &sb,
        "hostile",
        &format!(
            "ln -s {outside} ../attempts\nrm -f ../bench.err && ln -s {secret} ../bench.err\nmkfifo ../fifo\nln -s /dev/zero ../zero\nmkdir -p ../deep && ln -s {secret} ../deep/log\nexit 1",
            outside = outside.display(),
            secret = secret.display()
        ),
        "retries: 1\nretry_on: [crash]\n",
    );
    let t = Instant::now();
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(60), "no hang");
    let records = find(&sb.out("hostile"), "cell.json");
    assert_eq!(records.len(), 1, "{records:?}");
    let j = json(&records[0]);
    assert_eq!(j["status"], "rejected", "{j}");
    let reason = j["reason"].as_str().unwrap();
    assert!(
        reason.contains("`./attempts` is a symbolic link"),
        "{reason}"
    );
    assert!(
        reason.contains("`./bench.err` is a symbolic link"),
        "{reason}"
    );
    assert!(reason.contains("`./fifo` is a FIFO"), "{reason}");
    assert!(
        reason.contains("`./deep/log` is a symbolic link"),
        "{reason}"
    );
    // Never retried: what the board sends back says something about it.
    assert_eq!(j["attempt"], 1, "{j}");
    // No host file was written through the link, and the secret's
    // content is nowhere in the results.
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(
        files_containing(&sb.out("hostile"), "ssh-board-exfiltrated").is_empty(),
        "{:?}",
        files_containing(&sb.out("hostile"), "ssh-board-exfiltrated")
    );
    // Nothing that is not a folder or a regular file came back.
    let mut stack = vec![sb.out("hostile")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            assert!(ft.is_dir() || ft.is_file(), "{:?} came back", e.path());
            if ft.is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "KLO v1 info secret=ssh-board-exfiltrated\n"
    );
    // The summary says so too.
    let summary = std::fs::read_to_string(sb.out("hostile").join("summary.csv")).unwrap();
    assert!(summary.contains(",rejected,"), "{summary}");
}

#[test]
fn a_log_linked_to_a_host_file_or_dev_zero_is_never_a_result() {
    let (sb, _sshd) = ssh_board("");
    // A host file laid out as a complete log: through a link it would be
    // an `ok` result.
    let fake = sb.path().join("fake.log");
    let mut log = String::new();
    for i in 0..3 {
        for k in 0..3 {
            log += &format!(
                "KLO v1 net=net1 iter={i} kernel={k} name=k t_prod_us=1.0 t_ker_us=1.0 t_idle_us=1.0 flush=1 k=1\n"
            );
        }
        log += &format!("KLO v1 net=net1 iter={i} latency_us=5.0 flushes=3 k_mean=1.00\n");
    }
    log += "KLO v1 end iters=3\n";
    std::fs::write(&fake, log).unwrap();
    hostile_scenario(
        &sb,
        "linkedlog",
        &format!(
            "trap 'rm -f ../bench.log; ln -s {} ../bench.log' EXIT",
            fake.display()
        ),
        "",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let j = json(&find(&sb.out("linkedlog"), "cell.json")[0]);
    assert_eq!(j["status"], "rejected", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("`./bench.log` is a symbolic link"),
        "{j}"
    );

    // bench.log -> /dev/zero: refused at once, not read without end.
    hostile_scenario(
        &sb,
        "zerolog",
        "trap 'rm -f ../bench.log; ln -s /dev/zero ../bench.log' EXIT",
        "",
    );
    let t = Instant::now();
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(60));
    let j = json(&find(&sb.out("zerolog"), "cell.json")[0]);
    assert_eq!(j["status"], "rejected", "{j}");
}

#[test]
fn what_a_board_sends_back_is_bounded_per_file_per_cell_and_in_transfer() {
    let (sb, _sshd) = ssh_board("");
    // A file over the per-file limit: not written, the cell too_large.
    hostile_scenario(
        &sb,
        "bigfile",
        "head -c 3000000 /dev/zero > ../big.bin",
        "pull_limits: {file_mib: 2}\n",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let rec = &find(&sb.out("bigfile"), "cell.json")[0];
    let j = json(rec);
    assert_eq!(j["status"], "too_large", "{j}");
    let reason = j["reason"].as_str().unwrap();
    assert!(
        reason.contains("`./big.bin` holds 3000000 bytes") && reason.contains("file_mib"),
        "{reason}"
    );
    assert!(!rec.parent().unwrap().join("big.bin").exists());

    // A folder whose archive runs past the cell's cap: the transfer is
    // stopped as it happens, not read to its end.
    hostile_scenario(
        &sb,
        "bigcell",
        "for i in 1 2 3 4 5 6; do head -c 900000 /dev/urandom > ../f$i; done",
        "pull_limits: {file_mib: 1, cell_mib: 1, files: 10}\n",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let j = json(&find(&sb.out("bigcell"), "cell.json")[0]);
    assert_eq!(j["status"], "too_large", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("the transfer was stopped"),
        "{j}"
    );
    // The board is usable at once afterwards.
    hostile_scenario(&sb, "after", "true", "");
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_benchmark_that_escapes_its_process_group_on_an_ssh_board_is_stopped() {
    let (sb, _sshd) = ssh_board("");
    let pids = sb.path().join("daemons");
    hostile_scenario(
        &sb,
        "escape",
        &format!(
            "setsid sh -c 'echo $$ >> {p}; exec sleep 300' > /dev/null 2>&1 < /dev/null &\n( ( setsid sh -c 'echo $$ >> {p}; exec sleep 300' > /dev/null 2>&1 < /dev/null & ) & )\nsleep 0.3",
            p = pids.display()
        ),
        "",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let daemons: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(daemons.len(), 2, "{daemons:?}");
    wait_until(
        "the escaped daemons to be gone",
        Duration::from_secs(10),
        || {
            daemons.iter().all(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |s| {
                    let state = s[s.rfind(')').unwrap() + 1..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("Z");
                    state == "Z" || state == "X"
                })
            })
        },
    );
    let j = json(&find(&sb.out("escape"), "cell.json")[0]);
    assert_eq!(j["status"], "ok", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("started 2 process(es) that left its process group"),
        "{j}"
    );
}
