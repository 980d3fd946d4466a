//! The errors of a plan: every problem found, each with the path of the
//! field it is about, collected so a user sees them all at once.

use std::fmt;

/// One problem in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// Path of the field at fault, e.g. `layout.partitions[0].size`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(plan): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All the problems found in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the plan has {n} error{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

impl PlanErrors {
    pub fn mentions(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }
}

pub(crate) struct Errs(pub(crate) Vec<PlanError>);

impl Errs {
    pub(crate) fn push(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.0.push(PlanError {
            path: path.into(),
            message: msg.into(),
        });
    }
}
