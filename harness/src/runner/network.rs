//! `network`: the client's proxy shapes its link from now on, with a seed derived from the
//! scenario's and the client's names unless the step gives one.

use super::{Cause, Family, Runner};
use crate::scenario::NetworkStep;

impl Family for NetworkStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let seed = self
            .seed
            .unwrap_or_else(|| crate::shaping::seed_of(&[&runner.scenario.name, &self.client]));
        runner
            .slot(&self.client)?
            .proxy
            .shape(self.conditions(), seed);
        Ok(())
    }
}
