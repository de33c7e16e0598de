use super::*;

fn kv(text: &str) -> BTreeMap<String, String> {
    readings(&format!("{text}\npreflight=done\n")).expect("finished")
}

fn outcome<'a>(p: &'a Preflight, name: &str) -> &'a Check {
    p.checks.iter().find(|c| c.name == name).expect(name)
}

#[test]
fn an_unfinished_answer_is_no_answer() {
    assert!(readings("kernel.release=6.1\n").is_none());
    assert!(readings("preflight=done").is_some());
}

#[test]
fn a_board_with_nothing_to_check_reports_what_applies() {
    // A VM: no battery, no cpufreq, no cpuidle, no SELinux, not Android.
    let p = evaluate(
        &kv(
            "kernel.release=6.1.0\nkernel.machine=x86_64\nfree.kib=52428800\nfree.dir=/tmp/klo-spec",
        ),
        &Settings::default(),
    );
    let names: Vec<&str> = p.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, CHECKS);
    for n in [
        "battery",
        "screen",
        "build",
        "governors",
        "idle_states",
        "selinux",
    ] {
        assert_eq!(outcome(&p, n).outcome, Outcome::NotApplicable, "{n}");
    }
    assert_eq!(outcome(&p, "daemons").outcome, Outcome::Ok);
    let free = outcome(&p, "free_space");
    assert_eq!(free.outcome, Outcome::Ok);
    assert_eq!(free.value, "50 GiB free in /tmp/klo-spec");
    assert_eq!(p.failed().count(), 0);
    assert_eq!(p.environment["kernel.release"], "6.1.0");
    assert!(!p.environment.contains_key("selinux"));
}

const PHONE: &str = "\
kernel.release=5.4.61-qgki
kernel.version=#1 SMP PREEMPT Mon Jan 4 2021
kernel.machine=aarch64
android=1
prop.ro.build.fingerprint=qcom/kona/kona:11/RKQ1/1:userdebug/test-keys
prop.ro.build.type=userdebug
prop.ro.build.version.release=11
prop.ro.build.version.sdk=30
prop.ro.product.model=RB5
prop.ro.board.platform=kona
screen.wakefulness=Asleep
battery.battery=1
battery.battery.capacity=18
battery.battery.status=Discharging
battery.usb=
governor.policy0=schedutil
governor.policy4=userspace
governor.policy7=schedutil
idle.cpu0.state0=WFI|43|0
idle.cpu0.state1=pc|1000|1
idle.cpu4.state0=WFI|43|0
selinux.enforce=1
gpu.model=Adreno650v2
daemon.thermal-engine=712
daemon.kworker/0:1=9
free.kib=102400
free.dir=/data/local/tmp/klo-spec";

#[test]
fn a_phone_left_in_a_bad_state_fails_each_check_by_name_with_what_to_do() {
    let p = evaluate(&kv(PHONE), &Settings::default());
    let failed: Vec<&str> = p.failed().map(|c| c.name.as_str()).collect();
    assert_eq!(
        failed,
        [
            "battery",
            "screen",
            "governors",
            "daemons",
            "idle_states",
            "free_space"
        ]
    );
    let b = outcome(&p, "battery");
    assert_eq!(b.value, "battery: 18% Discharging");
    assert!(
        b.detail
            .as_ref()
            .unwrap()
            .contains("battery is at 18% and discharging")
    );
    assert_eq!(outcome(&p, "screen").value, "off (Asleep)");
    assert!(
        outcome(&p, "governors")
            .detail
            .as_ref()
            .unwrap()
            .starts_with("policy4 already")
    );
    assert_eq!(outcome(&p, "daemons").value, "thermal-engine (pid 712)");
    let idle = outcome(&p, "idle_states");
    assert_eq!(idle.value, "2 CPUs, up to 2 states each");
    assert!(idle.detail.as_ref().unwrap().contains("cpu0 state1 (pc)"));
    assert_eq!(
        outcome(&p, "free_space").value,
        "100 MiB free in /data/local/tmp/klo-spec"
    );
    assert_eq!(outcome(&p, "build").outcome, Outcome::Info);
    assert_eq!(outcome(&p, "selinux").value, "enforcing");
    // The environment: software and configuration, not the moment's state.
    let env = &p.environment;
    assert_eq!(
        env["android.fingerprint"],
        "qcom/kona/kona:11/RKQ1/1:userdebug/test-keys"
    );
    assert_eq!(env["android.build_type"], "userdebug");
    assert_eq!(env["gpu.model"], "Adreno650v2");
    assert_eq!(env["governor.policy4"], "userspace");
    assert_eq!(env["idle.cpu0"], "WFI:43us pc:1000us");
    assert_eq!(env["selinux"], "enforcing");
    assert!(
        !env.keys()
            .any(|k| k.contains("battery") || k.contains("free"))
    );
}

#[test]
fn allowed_checks_are_recorded_as_allowed_and_do_not_stop_the_run() {
    let s = Settings {
        allow: [
            "battery",
            "screen",
            "governors",
            "daemons",
            "idle_states",
            "free_space",
        ]
        .map(String::from)
        .to_vec(),
        ..Settings::default()
    };
    let p = evaluate(&kv(PHONE), &s);
    assert_eq!(p.failed().count(), 0);
    assert_eq!(outcome(&p, "daemons").outcome, Outcome::Allowed);
    assert!(
        outcome(&p, "daemons").detail.is_some(),
        "the reason stays on record"
    );
}

#[test]
fn thresholds_and_charging_decide_battery_and_free_space() {
    let s = Settings {
        battery_min_pct: 15,
        free_mib: 64,
        ..Settings::default()
    };
    let p = evaluate(&kv(PHONE), &s);
    assert_eq!(outcome(&p, "battery").outcome, Outcome::Ok);
    assert_eq!(outcome(&p, "free_space").outcome, Outcome::Ok);
    let charging = PHONE.replace("status=Discharging", "status=Charging");
    let p = evaluate(&kv(&charging), &Settings::default());
    assert_eq!(
        outcome(&p, "battery").outcome,
        Outcome::Ok,
        "a charging phone may run"
    );
    let p = evaluate(&kv("free.dir=/x"), &Settings::default());
    assert_eq!(
        outcome(&p, "free_space").outcome,
        Outcome::Fail,
        "no figure: no guess"
    );
}

#[test]
fn daemons_are_matched_on_the_fifteen_characters_the_kernel_keeps() {
    assert_eq!(comm_name("power-profiles-daemon"), "power-profiles-");
    let s = Settings {
        daemons: vec!["power-profiles-daemon".into()],
        ..Settings::default()
    };
    let p = evaluate(
        &kv("daemon.power-profiles-=88\nfree.kib=9999999\nfree.dir=/t"),
        &s,
    );
    assert_eq!(outcome(&p, "daemons").value, "power-profiles- (pid 88)");
    assert_eq!(outcome(&p, "daemons").outcome, Outcome::Fail);
}

#[test]
fn an_eng_build_fails_and_other_builds_are_recorded() {
    let eng = PHONE.replace("ro.build.type=userdebug", "ro.build.type=eng");
    let p = evaluate(&kv(&eng), &Settings::default());
    assert_eq!(outcome(&p, "build").outcome, Outcome::Fail);
    let awake = PHONE.replace("wakefulness=Asleep", "wakefulness=Awake");
    let p = evaluate(&kv(&awake), &Settings::default());
    assert_eq!(outcome(&p, "screen").outcome, Outcome::Ok);
}

#[test]
fn environments_are_compared_per_board_and_key() {
    let mut a = BTreeMap::new();
    a.insert(
        "rb5".to_string(),
        BTreeMap::from([
            ("kernel.release".to_string(), "5.4.61".to_string()),
            ("gpu.model".to_string(), "Adreno650v2".to_string()),
        ]),
    );
    a.insert(
        "local".to_string(),
        BTreeMap::from([("k".to_string(), "1".to_string())]),
    );
    let mut b = a.clone();
    b.get_mut("rb5")
        .unwrap()
        .insert("kernel.release".into(), "5.4.86".into());
    b.get_mut("rb5")
        .unwrap()
        .insert("selinux".into(), "permissive".into());
    b.remove("local");
    let changes = compare_environments(&a, &b);
    assert_eq!(
        describe_changes(&changes),
        [
            "board `rb5`: kernel.release 5.4.61 -> 5.4.86",
            "board `rb5`: selinux (none) -> permissive"
        ]
    );
    assert!(compare_environments(&a, &a).is_empty());
}

#[test]
fn the_report_names_failing_and_allowed_checks() {
    let p = evaluate(
        &kv(PHONE),
        &Settings {
            allow: vec!["battery".into()],
            ..Settings::default()
        },
    );
    let lines = report_lines("rb5", &p);
    assert_eq!(
        lines[0],
        "pre-flight on board `rb5`: 2 info, 1 allowed, 5 FAIL"
    );
    assert!(lines[1].starts_with("  allowed battery: battery: 18% Discharging (battery is at 18%"));
    assert_eq!(lines.len(), 7);
}
