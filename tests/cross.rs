//! Helpers built for another CPU: `klo-spec helpers --board` builds them
//! with the board's cross compiler (Debian's aarch64-linux-gnu-gcc here),
//! cached by target and source hash, and qemu-user runs both (the probe on
//! its thread device), their output parsed as klo-spec parses a cell's log.
//! No aarch64 board was involved: qemu-aarch64 stands in for its CPU, with
//! Debian's aarch64 libraries (`-L /usr/aarch64-linux-gnu`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

mod common;
use common::*;

fn elf_machine(path: &Path) -> u16 {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{} is an ELF file", path.display());
    u16::from_le_bytes([b[18], b[19]])
}

#[test]
fn aarch64_helpers_cross_build_and_run_under_qemu() {
    let sb = Sandbox::new();
    sb.write(
        "boards.yaml",
        "boards:\n  rk3399:\n    transport: ssh\n    address: lab@rk3399\n    cc: aarch64-linux-gnu-gcc\n",
    );
    let build = |sb: &Sandbox| {
        let t = Instant::now();
        let out = sb
            .command(&["helpers", "--board", "rk3399", "--boards", "boards.yaml"])
            .env("KLO_SPEC_CACHE", sb.path().join("cache"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let paths: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
        (paths, t.elapsed().as_secs_f64())
    };
    let (paths, cold) = build(&sb);
    let (again, warm) = build(&sb);
    assert_eq!(paths, again, "the second build is the cached one");
    let (load, probe) = (Path::new(&paths[0]), Path::new(&paths[1]));
    assert!(
        paths[0].contains("/helpers/aarch64-linux-gnu/"),
        "cached by target: {}",
        paths[0]
    );
    const EM_AARCH64: u16 = 183;
    assert_eq!(elf_machine(load), EM_AARCH64);
    assert_eq!(elf_machine(probe), EM_AARCH64);

    let qemu = |bin: &Path, args: &[&str]| {
        let t = Instant::now();
        let out = Command::new("qemu-aarch64")
            .args(["-L", "/usr/aarch64-linux-gnu"])
            .arg(bin)
            .args(args)
            .current_dir(sb.path())
            .output()
            .expect("qemu-aarch64 (qemu-user) is installed: tests/run.sh installs it");
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), t.elapsed().as_secs_f64())
    };
    let (sum, load_s) = qemu(load, &["100", "1000", "3"]);
    assert!(
        sum.trim().parse::<u64>().is_ok(),
        "klo-load prints its sum: {sum}"
    );

    sb.write(
        "kernels.txt",
        "conv 20000 5000\npw 10000 2000\nfc 5000 1000\n",
    );
    let (log, probe_s) = qemu(
        probe,
        &[
            "-f",
            "kernels.txt",
            "-n",
            "tiny",
            "-i",
            "4",
            "-k",
            "2",
            "-d",
            "thread",
            "-s",
            "deferred",
        ],
    );
    let parsed = klo_spec::ingest::parse_klo(&log);
    assert_eq!(parsed.incomplete_reason(4, Some("tiny")), None, "{log}");
    assert_eq!(
        parsed.info.get("device").map(String::as_str),
        Some("thread")
    );
    assert_eq!(parsed.inferences.iter.len(), 4);
    eprintln!(
        "aarch64 helpers: cross build {cold:.2} s (cached {warm:.2} s); under qemu: klo-load {load_s:.2} s, klo-probe (4 inferences) {probe_s:.2} s"
    );
}

#[test]
fn remote_board_settings_are_checked_and_located() {
    let sb = Sandbox::new();
    sb.write(
        "boards.yaml",
        "boards:\n  a: {transport: ssh}\n  b: {transport: adb, address: X1, root: sudo, ssh_config: c}\n  c: {transport: ssh, address: pi, workdir: 'tmp/klo spec', cc: gcc, board_cc: gcc}\n  d: {transport: local, address: pi}\n  e: {transport: adb, address: X2, ndk: {arch: mips}}\n",
    );
    let out = sb.run(&["boards", "--boards", "boards.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for want in [
        "boards.yaml:2:6: a board with `transport: ssh` needs an `address` (at `boards.a`)",
        "boards.yaml:3:60: `ssh_config` does not apply to a board with `transport: adb` (at `boards.b.ssh_config`)",
        "boards.yaml:3:42: `root: sudo` does not apply to a board with `transport: adb`",
        "boards.yaml:4:45: `tmp/klo spec` is not a plain absolute path on the board (at `boards.c.workdir`)",
        "boards.yaml:4:80: `cc` and `board_cc` exclude each other (at `boards.c.board_cc`)",
        "`address` does not apply to a board with `transport: local` (at `boards.d.address`)",
        "`mips` is not a CPU the NDK builds for (at `boards.e.ndk.arch`)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(text(&out.stdout).is_empty(), "nothing listed");
}
