//! Scenario files: the TOML form of a [`Scenario`], as `dst show` prints it and as users
//! write their own. Durations are strings ("250ms", "3s"); node references are indices
//! into the node order (n1 is 0); faults are `[[faults]]` tables with `at` and `fault`.
//!
//! Not yet expressed in files: fault targets by role beyond the built-in ones
//! (`crash-leader`, `crash-follower`, `crash-random`, `isolate-leader`, `drift-leader`).

use std::path::Path;

use crate::scenario::Scenario;

/// The TOML text of a scenario, with a header saying how to use it.
pub fn to_toml(s: &Scenario) -> String {
    let body = toml::to_string(s).expect("scenarios always serialize");
    format!(
        "# Scenario {}: {}\n# Run it: dst run FILE --seed 1 (edit freely; `dst show NAME` prints any built-in)\n{body}",
        s.name, s.description
    )
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Reads and validates a scenario file. Errors are one line: file, line, column and what
/// was expected. The scenario is named by its path, so replay commands point back here.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut s: Scenario = toml::from_str(&text).map_err(|e| {
        let (line, col) = e.span().map_or((1, 1), |r| line_col(&text, r.start));
        let msg = e.message().replace('\n', " ");
        format!("{}:{line}:{col}: {msg}", path.display())
    })?;
    s.name = path.display().to_string();
    s.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_round_trips_through_toml() {
        for s in crate::builtin::everything() {
            let text = to_toml(&s);
            let back: Scenario =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(back, s, "{}", s.name);
        }
    }

    #[test]
    fn malformed_files_get_one_line_with_position() {
        let dir = std::env::temp_dir().join(format!("dst-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        let good = to_toml(&crate::builtin::find("relay/halves").unwrap());
        let bad = good.replace("duration = \"3s\"", "duration = \"three seconds\"");
        std::fs::write(&path, bad).unwrap();
        let err = load(&path).unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.contains("bad.toml:") && err.contains("invalid duration"),
            "{err}"
        );
        std::fs::write(&path, "nodes = [").unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.starts_with(&format!("{}:1:", path.display())), "{err}");
        std::fs::write(&path, good).unwrap();
        assert_eq!(load(&path).unwrap().nodes, 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
