//! Input errors: one clear message naming the file, the line and what was expected.
//!
//! Every parser and every interpretation of a recorded operation reports through this type,
//! so the CLI can print one line and exit 2. It deliberately carries no backtrace or nested
//! cause: a person fixing a corrupt history needs the place and the expectation, nothing more.

use std::fmt;

/// A problem with the input, located at a file and a 1-based line (0 when it concerns the
/// whole file, such as an empty history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl InputError {
    pub fn new(file: impl Into<String>, line: usize, message: impl Into<String>) -> Self {
        InputError {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for InputError {}
