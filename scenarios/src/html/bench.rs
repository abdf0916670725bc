//! `dst bench html`: how long a report of a long run takes to build, how big it is, and, when
//! a Chromium is installed, how long a headless browser takes to open it and draw it (the
//! target: a 100,000-event trace in under 3 seconds).
//!
//! The browser figure is the wall time of a whole `chromium --headless --dump-dom` process,
//! start-up included, so it overstates what a user with an open browser waits; the page's
//! own drawing time is read from the `data-render-ms` it leaves on its body.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::runner::{run_scenario, RunOptions};
use crate::scenario::Scenario;

#[derive(Debug, Clone, Serialize)]
pub struct BrowserLoad {
    pub wall_sec: f64,
    pub render_ms: Option<u64>,
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchHtmlReport {
    pub scenario: String,
    pub events: u64,
    pub run_sec: f64,
    pub build_sec: f64,
    pub page_bytes: usize,
    /// `None` when no Chromium was found.
    pub browser: Option<String>,
    pub loads: Vec<BrowserLoad>,
}

/// The first of `$DST_CHROMIUM`, `chromium`, `chromium-browser`, `google-chrome` that runs.
pub fn find_chromium() -> Option<String> {
    let candidates = std::env::var("DST_CHROMIUM")
        .into_iter()
        .chain(["chromium", "chromium-browser", "google-chrome"].map(String::from));
    for c in candidates {
        let ok = Command::new(&c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(c);
        }
    }
    None
}

/// The page's DOM after its scripts ran, from a headless Chromium that never reaches for
/// the network; `profile` is a scratch folder for its user data.
pub fn dump_dom(browser: &str, page: &Path, profile: &Path) -> Result<String, String> {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .map_err(|e| format!("{browser}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{browser} exited with {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("the DOM is not UTF-8: {e}"))
}

/// An attribute of the `<body>` tag of a dumped DOM.
pub fn body_attr(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let key = format!("{name}=\"");
    let start = body.find(&key)? + key.len();
    Some(body[start..start + body[start..].find('"')?].to_string())
}

/// Runs `s` at `seed`, builds its report, and opens it `loads` times in a browser.
pub fn bench_html(s: &Scenario, seed: u64, loads: usize) -> Result<BenchHtmlReport, String> {
    let started = Instant::now();
    let result = run_scenario(s, seed, &RunOptions::default());
    let run_sec = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let page = super::render(s, &result)?;
    let build_sec = started.elapsed().as_secs_f64();
    let dir: PathBuf = std::env::temp_dir().join(format!("dst-bench-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("report.html");
    std::fs::write(&path, &page).map_err(|e| format!("{}: {e}", path.display()))?;
    let browser = find_chromium();
    let mut measured = Vec::new();
    if let Some(b) = &browser {
        for i in 0..loads {
            let started = Instant::now();
            let dom = dump_dom(b, &path, &dir.join(format!("profile-{i}")))?;
            measured.push(BrowserLoad {
                wall_sec: started.elapsed().as_secs_f64(),
                render_ms: body_attr(&dom, "data-render-ms").and_then(|v| v.parse().ok()),
                status: body_attr(&dom, "data-status").unwrap_or_else(|| "no status".into()),
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(BenchHtmlReport {
        scenario: s.name.clone(),
        events: result.report.events,
        run_sec,
        build_sec,
        page_bytes: page.len(),
        browser,
        loads: measured,
    })
}
