//! The built-in cell script template: its rendering is pinned by a snapshot
//! and parses under the POSIX shells boards have.

use klo_spec::render::Templates;
use minijinja::context;
use minijinja::value::Value;

fn render_with(dir: &str, gpu_kind: &str) -> String {
    let loads = vec![
        context! { core => 0, mask => "1", procs => 2, t_sleep_us => 1000, inner_iter => 100000, log_iter => 20 },
        context! { core => 5, mask => "20", procs => 2, t_sleep_us => 1000, inner_iter => 100000, log_iter => 20 },
    ];
    let sys = "/sys";
    let t = Templates::load(None).unwrap();
    t.render_cell(context! {
        cell => context! { id => "rb5/heavy/cpu-big-min.others-keep/gpu-min/tiny/default", dir => dir, timeout_s => 120, settle_s => "0.500", settle_ceil_s => 1 },
        board => context! { state_dir => "/data/local/tmp/klo-spec/state", freq_settle_s => "0.200" },
        load_bin => "/cache/helpers/abc/klo-load",
        loads => Value::from(loads),
        loads_total => 4,
        cpu_pins => Value::from(vec![
            context! { policy => 0, name => "little", khz => 300000, userspace => true, dir => format!("{sys}/devices/system/cpu/cpufreq/policy0") },
            context! { policy => 4, name => "big", khz => 710400, userspace => false, dir => format!("{sys}/devices/system/cpu/cpufreq/policy4") },
        ]),
        // `kgsl-pwrlevel`: a kgsl without devfreq/, pinned by its power levels.
        gpu_pin => context! {
            kind => gpu_kind.trim_end_matches("-pwrlevel"), dir => format!("{sys}/class/kgsl/kgsl-3d0"), khz => 305000, hz => 305000000u64, level => 5,
            devfreq => gpu_kind != "kgsl-pwrlevel", pwrlevel => true, force_clk_on => true, idle_timer => gpu_kind != "kgsl-pwrlevel",
        },
        online => Value::from(vec![context! { cpu => 5, file => format!("{sys}/devices/system/cpu/cpu5/online") }]),
        core_ctl => Value::from(vec![context! { cluster => "big", file => format!("{sys}/devices/system/cpu/cpu4/core_ctl/min_cpus"), value => 3 }]),
        reads => Value::from(vec![
            context! { key => "little", file => format!("{sys}/devices/system/cpu/cpufreq/policy0/scaling_cur_freq") },
            context! { key => "gpu", file => format!("{sys}/class/kgsl/kgsl-3d0/gpuclk") },
        ]),
        knobs => if gpu_kind == "kgsl-pwrlevel" {
            Value::from(vec![
                context! { name => "bus_split", file => format!("{sys}/class/kgsl/kgsl-3d0/bus_split"), value => "0", choice => false },
                context! { name => "power_policy", file => format!("{sys}/class/misc/mali0/device/power_policy"), value => "always_on", choice => true },
            ])
        } else {
            Value::from(Vec::<Value>::new())
        },
        // `kgsl-pwrlevel` also stops a daemon for the cell.
        stop_daemons => if gpu_kind == "kgsl-pwrlevel" {
            Value::from(vec![context! { name => "thermal-engine", comm => "thermal-engine" }])
        } else {
            Value::from(Vec::<Value>::new())
        },
        // `kgsl-pwrlevel` also has a thermal gate (within 2 °C of the run's
        // first reading, too_hot after 60 s).
        thermal => if gpu_kind == "kgsl-pwrlevel" {
            context! {
                zones => Value::from(vec![
                    context! { zone => "thermal_zone0", type => "cpu-0-0", file => format!("{sys}/class/thermal/thermal_zone0/temp"), type_file => format!("{sys}/class/thermal/thermal_zone0/type") },
                    context! { zone => "thermal_zone4", type => "gpu $(x)", file => format!("{sys}/class/thermal/thermal_zone4/temp"), type_file => format!("{sys}/class/thermal/thermal_zone4/type") },
                ]),
                within => true, within_mc => 2000, limit_mc => 0, poll_s => "1.000", timeout_s => "60", timeout_cs => 6000,
                on_timeout => "too_hot", run => "1234-1700000000000",
            }
        } else {
            Value::from(())
        },
        // Every kind but `mali` has a sampler (kgsl: two busy files to try).
        sampler => if gpu_kind == "mali" {
            Value::from(())
        } else {
            context! {
                period_s => "0.100",
                header => "t_s,cpu_khz.little,cpu_khz.big,gpu_hz,gpu_busy,temp_mc.cpu-0-0",
                signals => Value::from(vec![
                    context! { var => "s0", file => format!("{sys}/devices/system/cpu/cpufreq/policy0/scaling_cur_freq") },
                    context! { var => "s1", file => format!("{sys}/devices/system/cpu/cpufreq/policy4/scaling_cur_freq") },
                    context! { var => "s2", file => format!("{sys}/class/kgsl/kgsl-3d0/gpuclk") },
                    context! { var => "s3", file => format!("{sys}/class/thermal/thermal_zone0/temp") },
                ]),
                busy => Value::from(vec![
                    context! { file => format!("{sys}/class/kgsl/kgsl-3d0/gpu_busy_percentage"), format => "first" },
                    context! { file => format!("{sys}/class/kgsl/kgsl-3d0/gpubusy"), format => "ratio" },
                ]),
                line => "$t,$s0,$s1,$s2,$b,$s3",
            }
        },
    })
    .unwrap()
}

fn render(dir: &str) -> String {
    render_with(dir, "kgsl")
}

#[test]
fn the_rendered_cell_script_is_pinned() {
    insta::assert_snapshot!(render("/tmp/klo-spec-0/local/cells/0123-1-0"));
}

#[test]
fn the_rendered_script_parses_under_the_shells_boards_have() {
    for kind in ["mali", "devfreq", "kgsl-pwrlevel"] {
        let script = render_with("/tmp/x", kind);
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let script = render("/tmp/a dir/with 'quotes' and $(command)");
    // dash (Debian's sh), bash, mksh (Android), busybox sh (embedded boards).
    for shell in [
        &["sh"][..],
        &["dash"],
        &["bash"],
        &["mksh"],
        &["busybox", "sh"],
    ] {
        let mut cmd = std::process::Command::new(shell[0]);
        cmd.args(&shell[1..]);
        let Ok(out) = cmd.arg("-n").arg("-c").arg(&script).output() else {
            eprintln!("{shell:?} is not installed: skipped (tests/run.sh installs it)");
            continue;
        };
        assert!(
            out.status.success(),
            "{shell:?} -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        script.contains("CELL_DIR='/tmp/a dir/with '\\''quotes'\\'' and $(command)'"),
        "{script}"
    );
}

/// `set_range` against a strict `put` that refuses what an old kernel
/// refuses (a minimum above the maximum, a maximum below the minimum), from
/// every starting point: it must always find a valid order.
#[test]
fn min_max_pairs_are_written_in_an_order_the_kernel_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let lib = Templates::load(None)
        .unwrap()
        .render_named("lib.sh.j2", context! { board => context! { state_dir => dir.path().join("state").to_string_lossy() } })
        .unwrap();
    let script = format!(
        r#"{lib}
D={dir}
# A strict kernel; for Mali dvfs locks 0 means unlocked (no limit).
put() {{
    case "$1" in
    *min*) hi=$(cat "${{1%min}}max"); if [ "$hi" != 0 ] && [ "$2" -gt "$hi" ]; then return 1; fi ;;
    *max*) lo=$(cat "${{1%max}}min"); if [ "$2" != 0 ] && [ "$2" -lt "$lo" ]; then return 1; fi ;;
    esac
    printf '%s\n' "$2" > "$1"
}}
check() {{ # check START_MIN START_MAX NEW_MIN NEW_MAX KIND
    printf '%s\n' "$1" > "$D/min"; printf '%s\n' "$2" > "$D/max"
    set_range "$D/min" "$D/max" "$3" "$4" "$5" || {{ echo "FAILED $*"; return; }}
    [ "$(cat "$D/min") $(cat "$D/max")" = "$3 $4" ] || echo "WRONG $*"
}}
for start in "300 1800" "300 300" "1800 1800" "900 900"; do
    for new in "1800 1800" "300 300" "900 900" "300 1800" "600 1200"; do
        check $start $new cpufreq
    done
done
for start in "0 0" "450 450" "702 702"; do
    for new in "702 702" "260 260" "0 0"; do
        check $start $new mali
    done
done
echo done
"#,
        dir = dir.path().display()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "done",
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shells boards have: (program, arguments before the script).
const SHELLS: [&[&str]; 4] = [&["dash"], &["bash"], &["mksh"], &["busybox", "sh"]];

/// The round trip script of ssh and adb boards, run for real under each
/// shell: it unpacks what was sent, runs the script in it, sends back the
/// folder and the status line; and when its input closes early (the runner
/// stopped, the connection dropped) the script gets SIGTERM and its trap
/// runs. `exchange` plays the client: it holds the input open, and closes
/// it at the deadline.
#[test]
fn the_round_trip_script_works_under_each_shell() {
    use klo_spec::board::trip;
    use std::time::Duration;
    let t = Templates::load(None).unwrap();
    for shell in SHELLS {
        let dir = tempfile::tempdir().unwrap();
        let cell = dir.path().join("cell");
        for (script, deadline, want_status, want_file) in [
            (
                "echo hi > out.txt; echo 'klo-cell-exit=3'; exit 3\n",
                20,
                3,
                "hi\n",
            ),
            (
                "trap 'echo cleaned > out.txt; exit 143' TERM\nsleep 30 &\nwait $!\n",
                1,
                143,
                "cleaned\n",
            ),
        ] {
            let files = vec![("cell.sh".to_string(), script.as_bytes().to_vec(), 0o755)];
            let archive = trip::tar_files(&files).unwrap();
            let runner = t
                .render_named(
                    "remote.sh.j2",
                    context! { dir => cell.to_string_lossy(), payload_bytes => archive.len(), script => "cell.sh", mode => "folder", keep => false },
                )
                .unwrap();
            let file = dir.path().join("runner.sh");
            std::fs::write(&file, &runner).unwrap();
            let mut cmd = std::process::Command::new(shell[0]);
            cmd.args(&shell[1..]).arg(&file);
            let mut raw = trip::exchange(
                cmd,
                archive,
                Duration::from_secs(deadline),
                None,
                trip::STDOUT_CAP,
            )
            .unwrap();
            let stdout = raw.stdout().unwrap();
            let (body, status) = trip::split_trailer(&stdout)
                .unwrap_or_else(|| panic!("{shell:?}: no status line: {}", raw.stderr));
            assert_eq!(status, want_status, "{shell:?}: {}", raw.stderr);
            let back = dir.path().join("back");
            let report = klo_spec::board::pull::unpack(body, &back, &Default::default()).unwrap();
            assert!(report.is_clean(), "{shell:?}: {report:?}");
            assert_eq!(
                std::fs::read_to_string(back.join("out.txt")).unwrap(),
                want_file,
                "{shell:?}"
            );
            assert!(
                !cell.exists(),
                "{shell:?}: the board folder goes once sent back"
            );
        }
    }
}

#[test]
fn the_transport_scripts_parse_under_the_shells_boards_have() {
    let t = Templates::load(None).unwrap();
    let scripts = [
        t.render_named("remote.sh.j2", context! { dir => "/d", payload_bytes => 10, script => "x.sh", mode => "stdout", keep => true }).unwrap(),
        t.render_named("lock.sh.j2", context! { board => context! { state_dir => "/w/state" }, owner => "pid 1 on h since t", me => "pid 1 on h", stay_awake => false }).unwrap(),
        t.render_named("lock.sh.j2", context! { board => context! { state_dir => "/w/state" }, owner => "pid 1 on h since t", me => "pid 1 on h", stay_awake => true }).unwrap(),
        t.render_named("check.sh.j2", context! { helper_dirs => vec!["/w/bin/a"] }).unwrap(),
        t.render_named("build.sh.j2", context! { dir => "/w/bin/b", hash => "abc", cc => "gcc", first => "gcc", helpers => vec![context! { name => "klo-load", cflags => "-O2", libs => "" }] }).unwrap(),
    ];
    for script in &scripts {
        for shell in SHELLS {
            let out = std::process::Command::new(shell[0])
                .args(&shell[1..])
                .arg("-n")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{shell:?} -n: {}\n{script}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
