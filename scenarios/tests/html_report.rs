//! The HTML report as a user gets it: `dst run --html` on a failing run, then the page
//! opened in headless Chromium, whose DOM (after the page's script ran) must show the
//! lanes, the message arrows and the highlighted violation.
//!
//! Chromium is found as `$DST_CHROMIUM`, `chromium`, `chromium-browser` or `google-chrome`.
//! Without one the browser part is skipped with a message, unless `DST_REQUIRE_BROWSER` is
//! set (`.ci/run` installs Debian's `chromium` and sets it), in which case the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use scenarios::html::bench::{body_attr, dump_dom, find_chromium};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dst-html-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `dst run ... --html FILE` and returns the page's text.
fn report(dir: &Path, args: &[&str]) -> String {
    let path = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_dst"))
        .args(args)
        .arg("--html")
        .arg(&path)
        .output()
        .expect("dst runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a violation: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::read_to_string(&path).expect("the report was written")
}

/// The JSON model embedded in the page.
fn model(page: &str) -> serde_json::Value {
    let start = page.find(r#"id="dst-data">"#).expect("data element") + 14;
    let end = start + page[start..].find("</script>").expect("end of data");
    serde_json::from_str(&page[start..end].replace("<\\/", "</")).expect("the data is JSON")
}

/// The page's DOM after its scripts ran, from headless Chromium; `None` when there is no
/// browser and none is required.
fn rendered_dom(dir: &Path, page: &Path) -> Option<String> {
    let Some(browser) = find_chromium() else {
        if std::env::var_os("DST_REQUIRE_BROWSER").is_some() {
            panic!(
                "DST_REQUIRE_BROWSER is set but no Chromium was found (apt-get install chromium)"
            );
        }
        eprintln!("skipping the browser check: no Chromium found (apt-get install chromium)");
        return None;
    };
    Some(dump_dom(&browser, page, &dir.join("profile")).expect("chromium draws the page"))
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn attr(dom: &str, name: &str) -> String {
    body_attr(dom, name).unwrap_or_else(|| panic!("no {name} on the body"))
}

#[test]
fn linearizability_report_draws_lanes_arrows_and_the_witness() {
    let dir = scratch("raft");
    let args = [
        "run",
        "raft/vote-storm",
        "--seed",
        "3",
        "--bug",
        "raft:stale-read",
    ];
    let page = report(&dir, &args);
    // The model: every message on the wire is a row, and the witness points at operations.
    let m = model(&page);
    let stats = &m["meta"]["stats"];
    let rows = m["msgs"]["from"].as_array().unwrap().len() as u64;
    assert_eq!(
        rows,
        stats["sent"].as_u64().unwrap() + stats["duplicated"].as_u64().unwrap()
    );
    let violation = &m["violations"][0];
    assert_eq!(violation["check"], "linearizability");
    let refs = violation["ops"].as_array().unwrap();
    assert_eq!(refs[0]["role"], "at-fault");
    let line = refs[0]["line"].as_u64().unwrap();
    let ops = m["history"].as_array().unwrap();
    let at_fault = ops
        .iter()
        .find(|o| o["line"].as_u64() == Some(line))
        .expect("the witness names a history operation");
    assert_eq!(at_fault["f"], "get", "a stale read is a read");
    assert!(page
        .contains("cargo run --release -- replay raft/vote-storm --seed 3 --bug raft:stale-read"));

    let Some(dom) = rendered_dom(&dir, &dir.join("report.html")) else {
        return;
    };
    assert_eq!(attr(&dom, "data-status"), "rendered");
    let nodes = m["nodes"].as_array().unwrap().len();
    assert_eq!(
        count(&dom, r#"<line class="lane""#),
        nodes,
        "one lane per node"
    );
    let arrows = count(&dom, r#"<line class="msg"#);
    assert!(arrows > 500, "only {arrows} message arrows drawn");
    assert_eq!(attr(&dom, "data-arrows"), arrows.to_string());
    assert!(count(&dom, "msg drop") > 0, "dropped messages are marked");
    assert_eq!(
        count(&dom, "witness principal"),
        1,
        "the operation at fault is outlined"
    );
    assert!(
        count(&dom, r#"class="op ok witness""#) >= 3,
        "the witness order is outlined"
    );
    assert!(
        count(&dom, r#"class="violation-marker""#) >= 2,
        "marker on both panels"
    );
    assert!(dom.contains("No order of these operations explains what the clients saw"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serializability_report_outlines_the_cycle_and_shades_crashes() {
    let dir = scratch("twopc");
    let args = [
        "run",
        "twopc/crash-participant",
        "--seed",
        "0",
        "--bug",
        "twopc:release-locks-before-decision",
    ];
    let page = report(&dir, &args);
    let m = model(&page);
    let cycle = m["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["check"] == "serializability")
        .expect("the cycle is reported");
    let steps = cycle["ops"].as_array().unwrap();
    assert!(steps.len() >= 2, "a cycle has at least two transactions");
    assert!(steps
        .iter()
        .all(|s| s["role"].as_str().unwrap().starts_with("cycle")));
    // The whole run: crashes are marked and shaded, and the cycle is outlined.
    let page_path = dir.join("report.html");
    let Some(dom) = rendered_dom(&dir, &page_path) else {
        return;
    };
    assert_eq!(attr(&dom, "data-status"), "rendered");
    assert!(
        count(&dom, r#"class="down""#) > 0,
        "a crashed participant's lane is shaded"
    );
    assert!(count(&dom, r#"class="mark crash""#) > 0);
    // Each transaction of the cycle is outlined and tagged with its step (↻1, ↻2, ...).
    assert_eq!(
        count(&dom, ">↻"),
        steps.len(),
        "every committed transaction of the cycle is tagged"
    );
    assert!(count(&dom, r#"class="op ok witness principal""#) >= steps.len());
    // Opened zoomed on the first violation, as the "jump to violation" link does: the
    // window narrows to it and its operation is still outlined.
    let url = format!("{}#violation", page_path.display());
    let zoomed = rendered_dom(&dir, Path::new(&url)).expect("the browser is there");
    assert_eq!(attr(&zoomed, "data-status"), "rendered");
    assert!(count(&zoomed, "witness principal") >= 1);
    assert!(
        count(&zoomed, r#"<line class="msg"#) < count(&dom, r#"<line class="msg"#),
        "the zoomed window draws fewer messages than the whole run"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn html_report_never_overwrites_a_users_file() {
    let dir = scratch("keep");
    let path = dir.join("mine.html");
    std::fs::write(&path, "precious").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dst"))
        .args(["run", "relay/halves", "--seed", "1", "--html"])
        .arg(&path)
        .output()
        .expect("dst runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    let _ = std::fs::remove_dir_all(&dir);
}
