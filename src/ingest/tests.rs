use super::*;

const LOG: &str = "\
probe starting (not a record)
KLO v1 info probe=1 device=thread submit=deferred fallback=\"no OpenCL library: libOpenCL.so.1: cannot open\"
KLO v1 net=tiny iter=0 kernel=0 name=conv2d_3x3 t_prod_us=900.0 t_ker_us=5.0 t_idle_us=nan flush=0 k=2
KLO v1 net=tiny iter=0 kernel=1 name=fc t_prod_us=10.0 t_ker_us=6.0 t_idle_us=1.5 flush=1 k=2 extra=ignored
KLO v1 net=tiny iter=0 latency_us=950.0 flushes=1 k_mean=2.00
KLO v1 net=tiny iter=1 kernel=0 name=conv2d_3x3 t_prod_us=30.0 t_ker_us=5.0 t_idle_us=nan flush=0 k=2
KLO v1 net=tiny iter=1 kernel=1 name=fc t_prod_us=12.0 t_ker_us=6.5 t_idle_us=2.5 flush=1 k=2
KLO v1 net=tiny iter=1 latency_us=80.0 flushes=1 k_mean=2.00
KLO v1 end iters=2
";

#[test]
fn parses_the_log_contract() {
    let log = parse_klo(LOG);
    assert_eq!(log.kernels.iter, vec![0, 0, 1, 1]);
    assert_eq!(log.kernels.name(1), "fc");
    assert_eq!(log.kernels.name(3), "fc");
    assert_eq!(log.kernels.name(2), "conv2d_3x3");
    assert_eq!(log.kernels.names, vec!["conv2d_3x3", "fc"]);
    assert_eq!(log.kernels.t_prod_us, vec![900.0, 10.0, 30.0, 12.0]);
    assert_eq!(
        log.kernels.t_idle_us,
        vec![None, Some(1.5), None, Some(2.5)]
    );
    assert_eq!(log.kernels.flush, vec![false, true, false, true]);
    assert_eq!(log.kernels.k, vec![Some(2); 4]);
    assert_eq!(log.inferences.latency_us, vec![950.0, 80.0]);
    assert_eq!(log.info["device"], "thread");
    assert_eq!(
        log.info["fallback"],
        "no OpenCL library: libOpenCL.so.1: cannot open"
    );
    assert_eq!(log.end, Some(Some(2)));
    assert_eq!(log.incomplete_reason(2, Some("tiny")), None);
}

#[test]
fn a_log_without_its_end_line_is_incomplete() {
    let truncated: String = LOG.lines().take(6).map(|l| format!("{l}\n")).collect();
    let reason = parse_klo(&truncated)
        .incomplete_reason(2, Some("tiny"))
        .unwrap();
    assert!(
        reason.starts_with("no end line: the log stops after 1 of 2 inferences"),
        "{reason}"
    );
}

#[test]
fn malformed_records_are_located() {
    let bad = LOG.replace("t_prod_us=12.0", "t_prod_us=12,0");
    let reason = parse_klo(&bad).incomplete_reason(2, Some("tiny")).unwrap();
    assert_eq!(
        reason,
        "malformed record at line 7: `t_prod_us=12,0` is not a number"
    );
    let missing = LOG.replace(" t_ker_us=6.5", "");
    let reason = parse_klo(&missing)
        .incomplete_reason(2, Some("tiny"))
        .unwrap();
    assert_eq!(reason, "malformed record at line 7: `t_ker_us` is missing");
}

#[test]
fn missing_duplicate_and_miscounted_inferences_are_incomplete() {
    assert_eq!(
        parse_klo(LOG).incomplete_reason(3, Some("tiny")).unwrap(),
        "the end line says 2 inferences, the cell asked for 3"
    );
    let dup = LOG.replace("iter=1 latency_us", "iter=0 latency_us");
    assert_eq!(
        parse_klo(&dup).incomplete_reason(2, Some("tiny")).unwrap(),
        "inference 0 is reported twice"
    );
    let gone: String = LOG
        .lines()
        .filter(|l| !l.contains("iter=1 latency"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        parse_klo(&gone).incomplete_reason(2, Some("tiny")).unwrap(),
        "inference 1 is missing"
    );
}

#[test]
fn stray_words_and_other_lines_are_ignored() {
    let log = parse_klo(
        "KLO v1 note iter=0 kernel=0 t_prod_us=1 t_ker_us=2\nKLO v2 iter=0 latency_us=3\nhello\n",
    );
    assert_eq!(log.kernels.iter.len(), 1);
    assert!(log.inferences.iter.is_empty());
    assert!(log.malformed.is_empty());
}

#[test]
fn regex_parser_maps_named_groups() {
    let re = crate::scenario::LogRegexes {
        kernel: Some(regex::Regex::new(r"^k (?P<iter>\d+) (?P<kernel>\d+) prod=(?P<t_prod_us>[\d.]+) ker=(?P<t_ker_us>[\d.]+)").unwrap()),
        inference: regex::Regex::new(r"^i (?P<iter>\d+) (?P<latency_us>[\d.]+)us").unwrap(),
        end: regex::Regex::new(r"^done$").unwrap(),
    };
    let text = "k 0 0 prod=5 ker=7\nk 0 1 prod=6 ker=8\ni 0 20us\nk 1 0 prod=5 ker=7\nk 1 1 prod=6 ker=8\ni 1 21.5us\ndone\n";
    let log = parse_regex(text, &re);
    assert_eq!(log.kernels.t_ker_us, vec![7.0, 8.0, 7.0, 8.0]);
    assert_eq!(log.kernels.t_idle_us, vec![None; 4]);
    assert_eq!(log.inferences.latency_us, vec![20.0, 21.5]);
    assert_eq!(log.incomplete_reason(2, Some("tiny")), None);
    assert!(
        parse_regex(&text.replace("done\n", ""), &re)
            .incomplete_reason(2, Some("tiny"))
            .is_some()
    );
}

#[test]
fn the_first_kernel_is_the_lowest_index_whatever_the_base() {
    let one_based = "KLO v1 iter=0 kernel=1 t_prod_us=90 t_ker_us=1\nKLO v1 iter=0 kernel=2 t_prod_us=9 t_ker_us=1\nKLO v1 iter=1 kernel=2 t_prod_us=9 t_ker_us=1\nKLO v1 iter=1 kernel=1 t_prod_us=90 t_ker_us=1\n";
    assert_eq!(
        parse_klo(one_based).first_kernel_flags(),
        vec![true, false, false, true]
    );
}

#[test]
fn a_measured_time_must_be_finite() {
    let log = parse_klo(
        "KLO v1 iter=0 kernel=0 t_prod_us=nan t_ker_us=1\nKLO v1 iter=0 latency_us=inf\n",
    );
    assert_eq!(log.malformed.len(), 2);
    assert_eq!(log.malformed[0].1, "`t_prod_us=nan` is not a finite number");
}

#[test]
fn fields_split_words_quotes_and_empty_values() {
    let got: Vec<(&str, &str)> =
        fields("  word a=1 b= c=\"x y\" d=\"open e=é  f==2 tail").collect();
    assert_eq!(
        got,
        vec![
            ("a", "1"),
            ("b", ""),
            ("c", "x y"),
            ("d", "open e=é  f==2 tail")
        ]
    );
    let got: Vec<(&str, &str)> = fields("k=v w é=ü last=").collect();
    assert_eq!(got, vec![("k", "v"), ("é", "ü"), ("last", "")]);
    assert_eq!(fields("   ").count(), 0);
}

#[test]
fn first_kernels_of_huge_inference_numbers() {
    // Inference numbers far above the record count take the map, not a
    // table of that size.
    let log = "KLO v1 iter=4000000000 kernel=3 t_prod_us=1 t_ker_us=1\n\
               KLO v1 iter=4000000000 kernel=2 t_prod_us=1 t_ker_us=1\n\
               KLO v1 iter=7 kernel=5 t_prod_us=1 t_ker_us=1\n";
    assert_eq!(parse_klo(log).first_kernel_flags(), vec![false, true, true]);
}

/// The canonical-order reader and the general one give the same log, for
/// records of every shape: canonical, reordered, with unknown, repeated,
/// quoted, empty or missing fields, odd spacing.
#[test]
fn the_canonical_reader_agrees_with_the_general_one() {
    let mut inputs: Vec<String> = vec![
        LOG.to_string(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=1.5 t_ker_us=2 t_idle_us=nan flush=1 k=4 t_flush_us=3.25\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=1.5 t_ker_us=2 t_idle_us=nan flush=1 k=4 t_flush_us=3.25 more=1\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=1.5 t_ker_us=2 t_idle_us=nan flush=1 k=4 k=5\n".into(),
        "KLO v1 net=a  iter=1   kernel=0 name=x t_prod_us=-0.0 t_ker_us=.5 t_idle_us=1. flush=0 k=\n".into(),
        "KLO v1 net=\"a b\" iter=1 kernel=0 name=x t_prod_us=1 t_ker_us=2 t_idle_us=3 flush=0 k=1\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=\"x y\" t_prod_us=1 t_ker_us=2 t_idle_us=3 flush=0 k=1\n".into(),
        "KLO v1 iter=1 net=a kernel=0 name=x t_prod_us=1 t_ker_us=2 t_idle_us=3 flush=0 k=1\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=1e3 t_ker_us=+2 t_idle_us=inf flush=0 k=1\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=12345678901234567 t_ker_us=1.2.3 t_idle_us=. flush=0 k=1\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=1 t_ker_us=2 t_idle_us=3 flush=0\n".into(),
        "KLO v1 net=a iter=1 kernel=0 name=x t_prod_us=1 t_ker_us=2 t_idle_us=3 flush=0 k=1 stray\n".into(),
        "KLO v1 net=a iter=2 latency_us=10.5 flushes=3 k_mean=2.50\n".into(),
        "KLO v1 net=a iter=2 latency_us=10.5 flushes=3 k_mean=2.50 x=1\n".into(),
        "KLO v1 net=a iter=2 latency_us=10.5 k_mean=2.50\n".into(),
        "KLO v1 net=a iter=2 kernel=1 latency_us=10.5 flushes=3 k_mean=2.50\n".into(),
        "KLO v1 net=a iter=x latency_us=1 flushes=1 k_mean=1\n".into(),
        "KLO v1 net= iter= latency_us= flushes= k_mean=\n".into(),
        "KLO v1 net=a iter=2 latency_us=10.5 flushes=3 k_mean=2.50\t\n".into(),
        "KLO v1 net=a iter=2 latency_us=10.5\tflushes=3 k_mean=2.50\n".into(),
    ];
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/log")).unwrap()
    {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for text in &inputs {
        assert_eq!(
            parse_klo_with(text, true),
            parse_klo_with(text, false),
            "the readers disagree on {text:?}"
        );
    }
}

/// The fast decimal reader gives `str::parse`'s value, bit for bit, and
/// leaves every other form to it.
#[test]
fn plain_decimals_parse_as_the_standard_library_does() {
    let mut cases: Vec<String> = [
        "0",
        "-0",
        "-0.0",
        "1",
        "1.",
        ".5",
        "41.2",
        "118.0",
        "0.1",
        "0.3",
        "123456789012345",
        "1234567890.12345",
        "0.00000000000001",
        "999999999999999",
        "3.14159265358979",
        "-2.5",
        "00012.50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Pseudo-random decimals of 1 to 15 digits with the point anywhere.
    let mut z: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..100_000 {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        let digits = 1 + (z % 15) as usize;
        let mut s: String = (0..digits)
            .map(|i| char::from(b'0' + ((z >> (i * 4 % 60)) % 10) as u8))
            .collect();
        let point = (z >> 40) as usize % (digits + 1);
        if point < digits {
            s.insert(point, '.');
        }
        cases.push(s);
    }
    for s in &cases {
        let want: f64 = s.parse().unwrap();
        let got = plain_decimal(s).unwrap_or_else(|| panic!("{s} not taken"));
        assert_eq!(got.to_bits(), want.to_bits(), "{s}");
    }
    for s in [
        "",
        "-",
        ".",
        "1e3",
        "+1",
        "1.2.3",
        "nan",
        "inf",
        "1_0",
        "1234567890123456",
        "9007199254740993",
    ] {
        assert_eq!(plain_decimal(s), None, "{s}");
    }
}

/// LOG with `from` replaced by `to`, judged as 2 inferences of `tiny`.
fn judged(from: &str, to: &str) -> Option<String> {
    let text = LOG.replace(from, to);
    assert_ne!(text, LOG, "{from} is in LOG");
    parse_klo(&text).incomplete_reason(2, Some("tiny"))
}

#[test]
fn values_that_cannot_be_true_make_the_log_incomplete() {
    // Negative times, wherever they are.
    for (from, to, key) in [
        ("t_prod_us=30.0", "t_prod_us=-30.0", "t_prod_us=-30.0"),
        ("t_ker_us=6.5", "t_ker_us=-6.5", "t_ker_us=-6.5"),
        ("t_idle_us=2.5", "t_idle_us=-2.5", "t_idle_us=-2.5"),
        ("latency_us=80.0", "latency_us=-80.0", "latency_us=-80.0"),
    ] {
        let why = judged(from, to).unwrap();
        assert!(why.contains(&format!("`{key}` is negative")), "{why}");
        assert!(why.starts_with("malformed record at line "), "{why}");
    }
    // Non-finite, and finite values whose mean overflows.
    assert!(
        judged("latency_us=80.0", "latency_us=inf")
            .unwrap()
            .contains("not a finite number")
    );
    assert_eq!(
        judged("latency_us=950.0", "latency_us=1.7e308"),
        None,
        "one huge value alone still averages"
    );
    let huge = LOG
        .replace("latency_us=80.0", "latency_us=1.7e308")
        .replace("latency_us=950.0", "latency_us=1.7e308");
    let why = parse_klo(&huge).incomplete_reason(2, Some("tiny")).unwrap();
    assert!(
        why.contains("`latency_us` values are too large to average"),
        "{why}"
    );
}

#[test]
fn a_log_of_another_network_is_incomplete() {
    let why = judged("net=tiny iter=1 kernel=1", "net=other iter=1 kernel=1").unwrap();
    assert_eq!(why, "the log is of network `other`, the cell ran `tiny`");
    let other = LOG.replace("net=tiny", "net=resnet18");
    assert!(
        parse_klo(&other)
            .incomplete_reason(2, Some("tiny"))
            .unwrap()
            .contains("network `resnet18`")
    );
    // The info line's too.
    let info = LOG.replace(
        "KLO v1 info probe=1",
        "KLO v1 info net=mobilenet_v1 probe=1",
    );
    assert!(
        parse_klo(&info)
            .incomplete_reason(2, Some("tiny"))
            .unwrap()
            .contains("`mobilenet_v1`")
    );
    // Nothing said about the network: nothing to compare.
    assert_eq!(parse_klo(LOG).incomplete_reason(2, None), None);
}

#[test]
fn gaps_and_disorder_in_kernel_numbering_are_incomplete() {
    let gap = judged("iter=1 kernel=1", "iter=1 kernel=2").unwrap();
    assert_eq!(
        gap,
        "kernel records out of sequence at line 7: kernel 2 of inference 1 follows kernel 0 (a gap or a repeat: kernels count up by one)"
    );
    // Swapped lines: inference 1 starts at kernel 1.
    let lines: Vec<&str> = LOG.lines().collect();
    let mut swapped = lines.clone();
    swapped.swap(5, 6);
    let text = swapped.join("\n") + "\n";
    let why = parse_klo(&text).incomplete_reason(2, Some("tiny")).unwrap();
    assert!(
        why.contains("inference 1 starts at kernel 1, the log's first inference at kernel 0"),
        "{why}"
    );
    // A repeated kernel.
    let rep = judged("iter=1 kernel=1", "iter=1 kernel=0").unwrap();
    assert!(
        rep.contains("kernel 0 of inference 1 follows kernel 0"),
        "{rep}"
    );
    // 1-based numbering is fine.
    let one = LOG
        .replace("kernel=1 ", "kernel=2 ")
        .replace("kernel=0 ", "kernel=1 ");
    assert_eq!(parse_klo(&one).incomplete_reason(2, Some("tiny")), None);
}

#[test]
fn kernel_records_are_counted_against_the_info_line_and_the_log() {
    let declared = LOG.replace("KLO v1 info probe=1", "KLO v1 info kernels=2 probe=1");
    assert_eq!(
        parse_klo(&declared).incomplete_reason(2, Some("tiny")),
        None
    );
    let three = LOG.replace("KLO v1 info probe=1", "KLO v1 info kernels=3 probe=1");
    assert_eq!(
        parse_klo(&three)
            .incomplete_reason(2, Some("tiny"))
            .unwrap(),
        "inference 0 has 2 kernel records, the info line says the network has 3 kernels"
    );
    // The last kernel of inference 1 is missing (no info line count).
    let short: String = LOG
        .lines()
        .filter(|l| !l.contains("iter=1 kernel=1"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        parse_klo(&short)
            .incomplete_reason(2, Some("tiny"))
            .unwrap(),
        "inference 1 has 1 kernel records, inference 0 has 2"
    );
    // A kernel record of an inference beyond the log's count.
    let beyond = LOG.replace(
        "KLO v1 end iters=2",
        "KLO v1 net=tiny iter=7 kernel=0 name=x t_prod_us=1.0 t_ker_us=1.0 t_idle_us=nan flush=1 k=1\nKLO v1 end iters=2",
    );
    assert_eq!(
        parse_klo(&beyond)
            .incomplete_reason(2, Some("tiny"))
            .unwrap(),
        "a kernel record of inference 7 is out of range (the log has 2)"
    );
}

#[test]
fn a_byte_that_is_not_utf8_in_chatter_does_not_throw_the_log_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.log");
    let mut bytes = b"caf\xe9 au lait: starting\n".to_vec();
    bytes.extend_from_slice(LOG.as_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let log = read_log(&path, None, 1 << 20).unwrap();
    assert_eq!(log.inferences.latency_us, vec![950.0, 80.0]);
    assert_eq!(log.incomplete_reason(2, Some("tiny")), None);
    // In a record's number it is a malformed record, located.
    let mut raw = LOG.replace("t_ker_us=6.5", "t_ker_us=6.#5").into_bytes();
    let at = raw.iter().position(|&b| b == b'#').unwrap();
    raw[at] = 0xff;
    std::fs::write(&path, &raw).unwrap();
    let why = read_log(&path, None, 1 << 20)
        .unwrap()
        .incomplete_reason(2, Some("tiny"))
        .unwrap();
    assert!(why.starts_with("malformed record at line 7"), "{why}");
}
