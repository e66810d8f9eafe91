//! `disconnect`: the client leaves a namespace, or closes.

use super::{Cause, Family, Runner};
use crate::client::Command;
use crate::scenario::DisconnectStep;

impl Family for DisconnectStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let slot = runner.slot(&self.client)?;
        let command = match &self.namespace {
            Some(nsp) => Command::DisconnectNamespace(nsp.clone()),
            None => Command::Close,
        };
        Ok(slot.client.send(command)?)
    }
}
