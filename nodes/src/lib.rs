//! Systems under test.
