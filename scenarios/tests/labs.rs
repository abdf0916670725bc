//! Every teaching lab both ways: the broken form fails with the lab's check within the seeds
//! its `lab.toml` promises, at the seed its guide names; the fixed form passes a sweep
//! (`DST_SEEDS` scales it; the guides promise 200 seeds, which the nightly `labs` job runs).

use std::process::Command;

use scenarios::labs;
use scenarios::testing::seeds_from_env;

#[test]
fn every_lab_fails_as_its_guide_says_and_its_fix_holds() {
    let all = labs::list(&labs::default_dir()).expect("the labs folder reads");
    assert!(all.len() >= 6, "only {} labs", all.len());
    let seeds = seeds_from_env(0..20).end;
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    for lab in &all {
        let guide = std::fs::read_to_string(lab.dir.join("GUIDE.md"))
            .unwrap_or_else(|e| panic!("{}: no guide: {e}", lab.id));
        for (i, part) in lab.parts.iter().enumerate() {
            let (_, found) = labs::find_failure(lab, i, part.find_within, &mut |_| {})
                .unwrap_or_else(|e| panic!("{} part {i}: {e}", lab.id));
            let found = found.unwrap_or_else(|| {
                panic!(
                    "{} part {i}: no failure within {} seeds",
                    lab.id, part.find_within
                )
            });
            assert!(
                found.expected_check,
                "{} part {i}: seed {} failed, but not the {} check: {:?}",
                lab.id, found.seed, part.check, found.result.report.violations
            );
            assert!(
                guide.contains(&format!("seed {}**", found.seed)),
                "{}: the guide should name seed {} as the first failing one",
                lab.id,
                found.seed
            );
            let fixed = labs::sweep_fixed(lab, i, seeds, jobs, &|_| {}).unwrap();
            assert!(
                fixed.failures.is_empty(),
                "{} part {i}: the fixed form fails: {:?}",
                lab.id,
                fixed.failures
            );
            assert_eq!(fixed.passed, seeds);
        }
    }
}

fn dst(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dst"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("dst runs")
}

#[test]
fn lab_cli_lists_runs_and_draws() {
    let dir = std::env::temp_dir().join(format!("dst-labs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dst(&["lab", "list"], &dir);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "split-brain",
        "clock-skew-leases",
        "2pc-blocks",
        "the-disk-lies",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    // The broken form, run twice: the second picture must not replace the first.
    for expected in ["lab-2pc-blocks-seed-0.html", "lab-2pc-blocks-seed-0-2.html"] {
        let out = dst(&["lab", "run", "2pc-blocks"], &dir);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("VIOLATION blocked-time"), "{text}");
        assert!(
            text.contains("replay: cargo run --release -- replay"),
            "{text}"
        );
        let page = std::fs::read_to_string(dir.join(expected)).expect("the picture");
        assert!(page.contains("\"check\":\"blocked-time\""));
    }
    let out = dst(&["lab", "run", "no-such-lab"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("unknown lab"), "{err}");
    let out = dst(&["lab", "show", "4"], &dir);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("# Lab 4"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lab edited so that its schedule cannot apply at some seed (a restart of a server the
/// random crash before it did not pick) is the file's problem: `lab run` says so in one
/// line with exit 2, in the broken form and the fixed form, instead of reporting a
/// violation of the system.
#[test]
fn an_edited_lab_that_cannot_run_as_written_is_refused() {
    let dir = std::env::temp_dir().join(format!("dst-labs-edited-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let lab = dir.join("04-2pc-blocks");
    std::fs::create_dir_all(&lab).unwrap();
    let from = labs::default_dir().join("04-2pc-blocks");
    let extra = "\n[[faults]]\nat = \"100ms\"\nfault = \"crash-random\"\n\n\
                 [[faults]]\nat = \"200ms\"\nfault = \"restart\"\nnode = \"n3\"\n";
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.extension().is_some_and(|e| e == "toml") && name != "lab.toml" {
            // The random crash goes first: faults are listed in time order.
            let at = text.find("[[faults]]").unwrap();
            let (head, tail) = text.split_at(at);
            text = format!("{head}{}\n{tail}", extra.trim_start());
        }
        std::fs::write(lab.join(name), text).unwrap();
    }
    let d = dir.to_str().unwrap();
    for args in [
        &["lab", "run", "2pc-blocks", "--dir", d][..],
        &["lab", "run", "2pc-blocks", "--dir", d, "--fixed"],
    ] {
        let out = dst(args, &dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("cannot run as written"), "{args:?}: {err}");
        assert!(err.contains("restart"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
