//! The undo list of a run: actions (unmount, detach, logout) registered as
//! they become necessary and run newest first when the run ends, also on
//! error. Lives with the tools because the transports and the engine both
//! register into it.

use anyhow::Result;

/// Undo actions, run in reverse order when the run ends (also on error).
type UndoFn = Box<dyn FnOnce() -> Result<()>>;

#[derive(Default)]
pub struct Cleanup {
    items: Vec<(String, UndoFn)>,
}

impl Cleanup {
    pub fn push(&mut self, what: impl Into<String>, f: impl FnOnce() -> Result<()> + 'static) {
        self.items.push((what.into(), Box::new(f)));
    }
    /// Run everything, newest first; errors are logged, not returned, so
    /// every item gets its turn.
    pub fn run_all(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        while let Some((what, f)) = self.items.pop() {
            tracing::debug!("cleanup: {what}");
            if let Err(e) = f() {
                tracing::warn!("cleanup: {what}: {e:#}");
                errors.push(format!("{what}: {e:#}"));
            }
        }
        errors
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run_all();
    }
}
