//! The built-in cell script template: its rendering is pinned by a snapshot
//! and parses under the POSIX shells boards have.

use klo_spec::render::Templates;
use minijinja::context;
use minijinja::value::Value;

fn render(dir: &str) -> String {
    let loads = vec![
        context! { core => 0, mask => "1", procs => 2, t_sleep_us => 1000, inner_iter => 100000, log_iter => 20 },
        context! { core => 5, mask => "20", procs => 2, t_sleep_us => 1000, inner_iter => 100000, log_iter => 20 },
    ];
    let t = Templates::load(None).unwrap();
    t.render_cell(context! {
        cell => context! { id => "local/heavy/cpu-current/gpu-current/tiny/default", dir => dir, timeout_s => 120, settle_s => "0.500", settle_ceil_s => 1 },
        load_bin => "/cache/helpers/abc/klo-load",
        loads => Value::from(loads),
        loads_total => 4,
    })
    .unwrap()
}

#[test]
fn the_rendered_cell_script_is_pinned() {
    insta::assert_snapshot!(render("/tmp/klo-spec-0/local/cells/0123-1-0"));
}

#[test]
fn the_rendered_script_parses_under_the_shells_boards_have() {
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
