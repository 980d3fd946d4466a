//! The interactive wizard (`netroot wizard`). Not implemented yet.

use anyhow::Result;

pub fn run() -> Result<i32> {
    eprintln!("netroot wizard: not implemented yet; write a plan (docs/examples/) and use `netroot migrate --plan FILE`");
    Ok(crate::cli::EXIT_NOT_IMPLEMENTED)
}
