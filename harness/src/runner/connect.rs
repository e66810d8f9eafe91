//! `connect`: a new client behind its own proxy (to a node, or through HAProxy), or one more
//! namespace of a client that is there; then the wait for the answer the step expects.

use std::collections::HashMap;
use std::time::Duration;

use super::expect::check_connect_error;
use super::{Cause, Family, Runner, Slot};
use crate::client::{Client, ClientOptions, Command, NamespaceOptions, Observed, ReconnectPolicy};
use crate::proxy::Proxy;
use crate::scenario::{ConnectOutcome, ConnectStep, Reconnection, Via};
use crate::transcript;

impl Family for ConnectStep {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        let target = &*runner.target;
        Ok(match (self.via, &self.node) {
            (Some(Via::Haproxy), _) => target.haproxy_addr().map(|_| ()),
            (None, Some(node)) => target.check_node(node),
            (None, None) => Ok(()),
        }?)
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let step = self;
        let auth = step.auth.as_ref().map(|a| runner.render(a)).transpose()?;
        let on_connect = step
            .on_connect
            .iter()
            .map(|e| Ok((runner.text(&e.event)?, runner.render_all(&e.args)?)))
            .collect::<Result<Vec<_>, Cause>>()?;
        let namespace = NamespaceOptions {
            nsp: step.namespace.clone(),
            auth,
            on_connect,
        };
        if let Ok(slot) = runner.slot(&step.client) {
            slot.client.send(Command::Connect(namespace))?;
        } else {
            let upstream = match step.via {
                Some(Via::Haproxy) => runner.target.haproxy_addr(),
                None => runner.target.node_addr(step.node.as_deref()),
            }?;
            let proxy = Proxy::start(upstream).await.map_err(Cause::Proxy)?;
            let mut options = ClientOptions::new(format!("http://{}", proxy.addr));
            options.endpoint.transport = step.transport.unwrap_or_default();
            options.endpoint.timeout = runner.scaled(Some(Duration::from_secs(5)));
            if let Some(path) = &step.path {
                options.endpoint.path = path.clone();
            }
            for (key, value) in &step.headers {
                options
                    .endpoint
                    .headers
                    .push((key.clone(), runner.text(value)?));
            }
            for (key, value) in &step.query {
                options
                    .endpoint
                    .query
                    .push((key.clone(), runner.text(value)?));
            }
            options.namespaces = vec![namespace];
            options.reconnect = reconnect_policy(step.reconnection.as_ref());
            let client = Client::connect(options);
            runner.clients.push((
                step.client.clone(),
                Slot {
                    client,
                    proxy,
                    via_balancer: step.via.is_some(),
                    taken_by: Vec::new(),
                    matched: HashMap::new(),
                    refusal: None,
                },
            ));
        }
        let timeout = runner.scaled(step.timeout.map(|m| m.0));
        let nsp = step.namespace.clone();
        let outcome = &step.expect;
        let wanted = match outcome {
            ConnectOutcome::Nothing => return Ok(()),
            ConnectOutcome::Connect => "connect",
            ConnectOutcome::ConnectError | ConnectOutcome::Refused(_) => "connect_error",
        };
        let answer = |o: &Observed| matches!(o, Observed::Connect { nsp: n, .. } | Observed::ConnectError { nsp: n, .. } if *n == nsp);
        let slot = runner.slot(&step.client)?;
        let seen = slot.client.wait_for(timeout, answer).await;
        match (outcome, seen.map(|o| o.what)) {
            (ConnectOutcome::Connect, Some(Observed::Connect { .. })) => Ok(()),
            (_, Some(Observed::ConnectError { message, data, .. }))
                if outcome.expects_refusal() =>
            {
                let slot = runner.slot(&step.client)?;
                // A following `expect: {connect_error: ...}` may still look at this refusal.
                slot.refusal = slot.client.taken().last().map(|t| (nsp.clone(), t.index));
                if let ConnectOutcome::Refused(want) = outcome {
                    let shape = check_connect_error(want, &message, data.as_ref())?;
                    slot.matched_last(shape);
                }
                Ok(())
            }
            (_, Some(other)) => Err(Cause::Unmet(format!(
                "expected {wanted} on {nsp}, got: {}",
                transcript::describe(&other)
            ))),
            (_, None) => Err(Cause::Unmet(format!(
                "expected {wanted} on {nsp} within {timeout:?}, nothing came{}",
                runner.taken_earlier(&step.client, answer)
            ))),
        }
    }
}

fn reconnect_policy(reconnection: Option<&Reconnection>) -> ReconnectPolicy {
    let defaults = ReconnectPolicy::default();
    match reconnection {
        None | Some(Reconnection::Enabled(false)) => ReconnectPolicy {
            enabled: false,
            ..defaults
        },
        Some(Reconnection::Enabled(true)) => defaults,
        Some(Reconnection::Policy(policy)) => ReconnectPolicy {
            enabled: true,
            attempts: policy.attempts.or(defaults.attempts),
            delay: policy.delay.map_or(defaults.delay, |m| m.0),
            delay_max: policy.delay_max.map_or(defaults.delay_max, |m| m.0),
            randomization: policy.randomization.unwrap_or(defaults.randomization),
        },
    }
}
