//! `cut` (the client's proxy resets or blackholes its connections) and `restore` (the link
//! back).

use super::{Cause, Family, Runner};
use crate::scenario::{ClientRef, CutStep};

impl Family for CutStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        runner.slot(&self.client)?.proxy.cut(self.mode.into());
        Ok(())
    }
}

/// `restore: {client: a}`.
impl Family for ClientRef {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        runner.slot(&self.client)?.proxy.restore();
        Ok(())
    }
}
