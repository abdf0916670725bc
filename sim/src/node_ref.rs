//! Node references as scenario files write them: the name the reports and diagrams show
//! (`"n1"` is the first server, index 0), or the index itself. Files print names; both
//! forms read back the same.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::Deserialize;

/// The name of node index `i`: 0 is `n1`.
pub fn name(i: usize) -> String {
    format!("n{}", i + 1)
}

/// One node, as a `serialize_with` helper: its name.
pub fn ser_node<S: Serializer>(i: &usize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&name(*i))
}

/// An optional node.
pub fn ser_opt_node<S: Serializer>(i: &Option<usize>, s: S) -> Result<S::Ok, S::Error> {
    match i {
        Some(i) => s.serialize_some(&name(*i)),
        None => s.serialize_none(),
    }
}

/// A list of nodes.
pub fn ser_nodes<S: Serializer>(v: &[usize], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for &i in v {
        seq.serialize_element(&name(i))?;
    }
    seq.end()
}

/// A list of links.
pub fn ser_links<S: Serializer>(v: &[(usize, usize)], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for &(a, b) in v {
        seq.serialize_element(&[name(a), name(b)])?;
    }
    seq.end()
}

/// Parses `"n1"` as 0, `"n2"` as 1, ...
pub fn parse_name(s: &str) -> Option<usize> {
    let n: usize = s.strip_prefix('n')?.parse().ok()?;
    n.checked_sub(1)
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a node: an index (0 is n1) or a name like \"n1\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        usize::try_from(v).map_err(|_| E::custom(format!("node index {v} is too large")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
        if v < 0 {
            return Err(E::custom(format!("node index {v} is negative; 0 is n1")));
        }
        self.visit_u64(v as u64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        parse_name(v).ok_or_else(|| {
            E::custom(format!(
                "'{v}' is not a node name; servers are n1, n2, ... (or give an index, 0 is n1)"
            ))
        })
    }
}

/// One node, as a `deserialize_with` helper.
pub fn node<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    d.deserialize_any(NodeVisitor)
}

/// An optional node.
pub fn opt_node<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "node")] usize);
    Option::<Wrapped>::deserialize(d).map(|o| o.map(|w| w.0))
}

#[derive(Deserialize)]
struct One(#[serde(deserialize_with = "node")] usize);

/// A list of nodes.
pub fn nodes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<usize>, D::Error> {
    Vec::<One>::deserialize(d).map(|v| v.into_iter().map(|o| o.0).collect())
}

/// A list of directed links `[from, to]`.
pub fn links<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(usize, usize)>, D::Error> {
    struct Links;
    impl<'de> Visitor<'de> for Links {
        type Value = Vec<(usize, usize)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of [from, to] links")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((a, b)) = seq.next_element::<(One, One)>()? {
                out.push((a.0, b.0));
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, serde::Serialize, Debug, PartialEq)]
    struct T {
        #[serde(deserialize_with = "node", serialize_with = "ser_node")]
        a: usize,
        #[serde(
            default,
            deserialize_with = "opt_node",
            serialize_with = "ser_opt_node"
        )]
        b: Option<usize>,
        #[serde(default, deserialize_with = "nodes", serialize_with = "ser_nodes")]
        c: Vec<usize>,
        #[serde(default, deserialize_with = "links", serialize_with = "ser_links")]
        d: Vec<(usize, usize)>,
    }

    #[test]
    fn names_and_indices_read_the_same() {
        let by_name: T =
            toml::from_str("a = \"n3\"\nb = \"n1\"\nc = [\"n2\", 4]\nd = [[\"n1\", 1]]").unwrap();
        let by_index: T = toml::from_str("a = 2\nb = 0\nc = [1, 4]\nd = [[0, 1]]").unwrap();
        assert_eq!(by_name, by_index);
        assert_eq!(by_name.c, vec![1, 4]);
        let printed = toml::to_string(&by_index).unwrap();
        assert!(printed.contains("a = \"n3\""), "{printed}");
        assert_eq!(toml::from_str::<T>(&printed).unwrap(), by_index);
    }

    #[test]
    fn bad_names_say_what_is_expected() {
        for bad in ["a = \"x1\"", "a = \"n0\"", "a = -1", "a = 1.5"] {
            let e = toml::from_str::<T>(bad).unwrap_err().to_string();
            assert!(e.contains("n1"), "{bad}: {e}");
        }
    }
}
