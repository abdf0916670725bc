//! Output files are checked before a command does its work: a run or a replay that ends
//! by refusing to replace a file (or by failing to create one in a missing directory)
//! after minutes of simulation wastes the minutes and buries the refusal under the log.
//! The check is repeated when the file is written (`create_new`), so nothing is replaced
//! if the file appears meanwhile.

use std::path::Path;

use super::BadInput;

/// Every given output path can be written: it does not exist (or `force`), it is not a
/// directory, and its directory exists.
pub(super) fn check_outputs<'a>(
    paths: impl IntoIterator<Item = Option<&'a Path>>,
    force: bool,
) -> Result<(), BadInput> {
    for path in paths.into_iter().flatten() {
        if path.is_dir() {
            return Err(BadInput(format!("{} is a directory", path.display())));
        }
        if path.exists() && !force {
            return Err(BadInput(format!(
                "{} already exists; pass --force to replace it",
                path.display()
            )));
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return Err(BadInput(format!(
                "cannot write {}: no directory {}",
                path.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}
