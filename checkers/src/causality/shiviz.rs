//! Export of a trace as a ShiViz/GoVector log.
//!
//! Each event becomes two lines, `host {"host":n,...}` and its description, which ShiViz
//! parses with the regex in [`SHIVIZ_REGEX`]. Host names are written with whitespace
//! replaced by `_` because the regex's host group is `\S*`. Zero entries are omitted, as
//! GoVector does. Nothing else (timestamps, fields) is exported.

use super::Trace;

/// The log-parsing regex to paste into ShiViz alongside the exported log.
pub const SHIVIZ_REGEX: &str = r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)";

fn host_name(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

/// The trace as a ShiViz log.
pub fn export(trace: &Trace) -> String {
    let names: Vec<String> = trace.hosts.iter().map(|h| host_name(h)).collect();
    let mut out = String::new();
    for (i, e) in trace.events.iter().enumerate() {
        let c = trace.clock(i);
        out.push_str(&names[e.host as usize]);
        out.push_str(" {");
        let mut first = true;
        for (k, &v) in c.iter().enumerate() {
            if v == 0 {
                continue;
            }
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(&serde_json::to_string(&names[k]).unwrap_or_default());
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push_str("}\n");
        // Descriptions are one line in this format.
        out.push_str(&e.label.replace('\n', " "));
        out.push('\n');
    }
    out
}
