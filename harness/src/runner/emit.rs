//! `emit` (sent `repeat` times, each waiting for its ack when asked) and `ack` (answering an ack
//! the server asked for, by its captured id).

use std::time::Duration;

use serde_json::Value;

use super::{Cause, Family, Runner};
use crate::client::Observed;
use crate::matcher;
use crate::scenario::{AckStep, EmitStep};
use crate::transcript;

impl Family for EmitStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let step = self;
        let event = runner.text(&step.event)?;
        let args = runner.render_all(&step.args)?;
        let expected_ack = step
            .ack
            .as_ref()
            .and_then(|a| a.args.as_ref())
            .map(|a| runner.render_all(a))
            .transpose()?;
        let ack_timeout = step
            .ack
            .as_ref()
            .map(|a| runner.scaled(a.timeout.map(|m| m.0)));
        let nsp = step.namespace.clone();
        for _ in 0..step.repeat.unwrap_or(1) {
            let slot = runner.slot(&step.client)?;
            slot.client.emit(&nsp, &event, args.clone(), ack_timeout)?;
            let Some(timeout) = ack_timeout else { continue };
            let reply = slot
                .client
                .wait_for(timeout + Duration::from_millis(100), |o| {
                    matches!(o, Observed::Ack { nsp: n, .. } | Observed::AckError { nsp: n, .. } if *n == nsp)
                })
                .await;
            match reply.map(|o| o.what) {
                Some(Observed::Ack { args, .. }) => {
                    if let Some(expected) = &expected_ack {
                        let expected = Value::Array(expected.clone());
                        matcher::check(&expected, &Value::Array(args), false)
                            .map_err(|m| Cause::Unmet(format!("ack of {event:?}: {m}")))?;
                        runner.slot(&step.client)?.matched_last(expected);
                    }
                }
                Some(other) => {
                    return Err(Cause::Unmet(format!(
                        "no ack for {event:?}: {}",
                        transcript::describe(&other)
                    )));
                }
                None => {
                    return Err(Cause::Unmet(format!(
                        "no ack for {event:?} within {timeout:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Family for AckStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let id = runner.render(&self.id)?;
        let id = id
            .as_u64()
            .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
            .ok_or(Cause::Invalid(format!("ack id {id} is not a number")))?;
        let args = runner.render_all(&self.args)?;
        Ok(runner
            .slot(&self.client)?
            .client
            .ack(&self.namespace, id, args)?)
    }
}
