//! Typed wrapper for `systemctl stop|start`: the units a final sync
//! (`netroot migrate --resync --stop-service UNIT`) stops on a live source
//! so their files hold still while they are copied, and starts again.
//!
//! Why a wrapper: the argv shows up in the dry run, and the copy step must
//! start the units again whether or not the copy worked.

use super::{Cmd, Runner};
use anyhow::{Context, Result};

/// `systemctl stop UNIT…`
pub fn stop_cmd(units: &[String]) -> Cmd {
    Cmd::new("systemctl").arg("stop").args(units)
}

/// `systemctl start UNIT…`
pub fn start_cmd(units: &[String]) -> Cmd {
    Cmd::new("systemctl").arg("start").args(units)
}

/// Stop `units` (none: nothing runs).
pub fn stop(runner: &Runner, units: &[String]) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    runner.run(&stop_cmd(units)).with_context(|| {
        format!(
            "stopping {} for the final sync (check the unit names with `systemctl status`)",
            units.join(" ")
        )
    })?;
    Ok(())
}

/// Start `units` again (none: nothing runs).
pub fn start(runner: &Runner, units: &[String]) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    runner
        .run(&start_cmd(units))
        .with_context(|| format!("starting {} again after the final sync", units.join(" ")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv() {
        let u = vec!["cron.service".to_string(), "ssh".to_string()];
        assert_eq!(stop_cmd(&u).display(), "systemctl stop cron.service ssh");
        assert_eq!(start_cmd(&u).display(), "systemctl start cron.service ssh");
    }
}
