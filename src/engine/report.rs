//! The run report: text for people, JSON for machines.

use super::{StepId, StepKind};
use crate::disk::TargetDisk;
use crate::plan::size::human;
use crate::plan::ResolvedLayout;
use crate::tools::Action;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The probe found it done; nothing was changed.
    Done,
    /// Dry run: it would run.
    WouldRun,
    /// It ran in this run.
    Ran,
    /// The run stopped before it.
    NotReached,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Done => "done",
            StepStatus::WouldRun => "would run",
            StepStatus::Ran => "ran",
            StepStatus::NotReached => "not reached",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: StepId,
    pub kind: StepKind,
    pub description: String,
    pub status: StepStatus,
    /// Why: what the probe found.
    pub reason: String,
    /// Commands, files and effects, in order.
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub netroot_version: String,
    pub dry_run: bool,
    pub plan_digest: String,
    pub source: String,
    pub target: String,
    pub disk: Option<TargetDisk>,
    pub layout: Option<ResolvedLayout>,
    pub steps: Vec<StepReport>,
    pub notes: Vec<String>,
    pub journal: Option<String>,
}

impl RunReport {
    pub fn files_written(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter_map(|a| match a {
                Action::WriteFile { path, contents, .. } => {
                    Some((path.as_str(), contents.as_str()))
                }
                _ => None,
            })
            .collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// The report for people. Destructive actions are marked with `!`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_header(&mut s);
        if let Some(d) = &self.disk {
            write_disk(&mut s, d);
        }
        if let Some(l) = &self.layout {
            write_layout(&mut s, l);
        }
        let _ = writeln!(s);
        self.write_steps(&mut s);
        self.write_files(&mut s);
        self.write_notes(&mut s);
        self.write_destructive_total(&mut s);
        if let Some(j) = &self.journal {
            let _ = writeln!(s, "journal   {j}");
        }
        s
    }

    /// The title, then the plan, source and target lines.
    fn write_header(&self, s: &mut String) {
        if self.dry_run {
            let _ = writeln!(s, "netroot migrate — DRY RUN: nothing has been changed, nothing will be until you run without --dry-run.");
        } else {
            let _ = writeln!(s, "netroot migrate — report");
        }
        let _ = writeln!(s, "plan      sha256 {}", &self.plan_digest);
        let _ = writeln!(s, "source    {}", self.source);
        let _ = writeln!(s, "target    {}", self.target);
    }

    /// Each step with its status, reason and actions.
    fn write_steps(&self, s: &mut String) {
        let total = self.steps.len();
        for (i, st) in self.steps.iter().enumerate() {
            let mark = if st.kind == StepKind::Destructive && st.status != StepStatus::Done {
                "  DESTRUCTIVE"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "[{:>2}/{total}] {:<10} {:<11} {}{mark}",
                i + 1,
                st.step.as_str(),
                st.status.as_str(),
                st.description
            );
            if !st.reason.is_empty() {
                let _ = writeln!(s, "          ({})", st.reason);
            }
            for a in &st.actions {
                write_action(s, a);
            }
        }
    }

    /// The contents of the files written (or that would be).
    fn write_files(&self, s: &mut String) {
        let files = self.files_written();
        if !files.is_empty() {
            let _ = writeln!(
                s,
                "\nFiles {}:",
                if self.dry_run {
                    "that would be written"
                } else {
                    "written"
                }
            );
            for (p, c) in files {
                let _ = writeln!(s, "--- {p}");
                for l in c.lines() {
                    let _ = writeln!(s, "    {l}");
                }
            }
        }
    }

    fn write_notes(&self, s: &mut String) {
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\nNotes:");
            for n in &self.notes {
                let _ = writeln!(s, "  - {n}");
            }
        }
    }

    /// How many destructive actions the steps not yet done hold, and on
    /// what (nothing when there are none).
    fn write_destructive_total(&self, s: &mut String) {
        let destructive_count: usize = self
            .steps
            .iter()
            .filter(|st| st.status != StepStatus::Done)
            .map(|st| st.actions.iter().filter(|a| a.is_destructive()).count())
            .sum();
        if destructive_count > 0 {
            let _ = writeln!(
                s,
                "\n{destructive_count} destructive action{} (marked !) {} data on {}.",
                if destructive_count == 1 { "" } else { "s" },
                if self.dry_run {
                    "would destroy"
                } else {
                    "destroyed"
                },
                self.disk
                    .as_ref()
                    .map(|d| d.node.display().to_string())
                    .unwrap_or_else(|| "the target".into())
            );
        }
    }
}

/// The target disk line (and its image file).
fn write_disk(s: &mut String, d: &TargetDisk) {
    let _ = writeln!(
        s,
        "disk      {}{} {}{}{}",
        d.node.display(),
        if d.attached {
            ""
        } else {
            " (attached at run time)"
        },
        if d.size == 0 {
            "size unknown until attached".to_string()
        } else {
            human(d.size)
        },
        d.model
            .as_ref()
            .map(|m| format!(" model {m}"))
            .unwrap_or_default(),
        d.serial
            .as_ref()
            .map(|m| format!(" serial {m}"))
            .unwrap_or_default(),
    );
    if let Some(i) = &d.image {
        let _ = writeln!(s, "          image file {}", i.display());
    }
}

/// The partition table line and the layout's summary.
fn write_layout(s: &mut String, l: &ResolvedLayout) {
    let _ = writeln!(
        s,
        "layout    {} table{}:",
        match l.table {
            crate::plan::TableKind::Gpt => "GPT",
            crate::plan::TableKind::Mbr => "MBR",
        },
        if l.table == crate::plan::TableKind::Gpt {
            format!(" (disk GUID {})", l.disk_id)
        } else {
            format!(" (disk id 0x{})", l.disk_id)
        }
    );
    s.push_str(&l.summary());
}

/// One action of a step: a command, an effect or a file written.
fn write_action(s: &mut String, a: &Action) {
    match a {
        Action::Command { argv, destructive } => {
            let line = argv
                .iter()
                .map(|x| crate::tools::cmd::shell_quote(x))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                s,
                "        {} $ {line}",
                if *destructive { "!" } else { " " }
            );
        }
        Action::Effect { what, destructive } => {
            let _ = writeln!(
                s,
                "        {} * {what}",
                if *destructive { "!" } else { " " }
            );
        }
        Action::WriteFile {
            path,
            contents,
            mode,
        } => {
            let _ = writeln!(
                s,
                "          > write {path} (mode {mode:o}, {} lines, shown below)",
                contents.lines().count()
            );
        }
    }
}
