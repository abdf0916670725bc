//! Every reference history under ../shared/histories gets the verdict its authors published.
//! Skips (with a message) when the shared folder is absent.

use checkers::history::{self, pair};
use checkers::linearizability::{check_with, ModelKind, Options, Verdict};
use std::path::{Path, PathBuf};

fn shared() -> Option<PathBuf> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/histories"
    ))
    .to_path_buf();
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} is absent", p.display());
        None
    }
}

fn verdict_of(path: &Path, model: ModelKind) -> String {
    let h = history::read_file(path, None).unwrap_or_else(|e| panic!("{e}"));
    let ops = pair(&h).unwrap_or_else(|e| panic!("{e}"));
    let r = check_with(model, None, &ops, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    if let Verdict::NotLinearizable { witness } = &r.verdict {
        assert!(!witness.could_not_place.is_empty() || !witness.must_precede.is_empty());
    }
    r.verdict.name().to_string()
}

#[test]
fn jepsen_etcd_verdicts_match_expected() {
    let Some(dir) = shared() else { return };
    let expected = std::fs::read_to_string(dir.join("jepsen-etcd/EXPECTED.txt")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (file, want) = (it.next().unwrap(), it.next().unwrap());
        let got = verdict_of(&dir.join("jepsen-etcd").join(file), ModelKind::CasRegister);
        if got != want {
            wrong.push(format!("{file}: expected {want}, got {got}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 50);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn porcupine_kv_verdicts_match_file_names() {
    let Some(dir) = shared() else { return };
    let mut names: Vec<_> = std::fs::read_dir(dir.join("porcupine-kv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 4);
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let want = if name.contains("-ok") {
            "linearizable"
        } else {
            "not-linearizable"
        };
        assert_eq!(verdict_of(&p, ModelKind::Kv), want, "{name}");
    }
}
