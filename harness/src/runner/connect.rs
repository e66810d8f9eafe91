//! `connect`: a new client behind its own proxy (to a node, or through HAProxy), or one more
//! namespace of a client that is there; then the wait for the answer the step expects.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::expect::check_connect_error;
use super::{Cause, Family, Runner, Slot};
use crate::client::{Client, ClientOptions, Command, NamespaceOptions, Observed, ReconnectPolicy};
use crate::matcher;
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
            .map(|e| {
                let ack_timeout = e
                    .ack
                    .as_ref()
                    .map(|a| runner.scaled(a.timeout.map(|m| m.0)));
                Ok((
                    runner.text(&e.event)?,
                    runner.render_all(&e.args)?,
                    ack_timeout,
                ))
            })
            .collect::<Result<Vec<_>, Cause>>()?;
        let acked = step
            .on_connect
            .iter()
            .filter_map(|e| {
                let ack = e.ack.as_ref()?;
                let expected = ack.args.as_ref().map(|a| runner.render_all(a));
                Some((|| {
                    Ok(OnConnectAck {
                        nsp: step.namespace.clone(),
                        event: runner.text(&e.event)?,
                        expected: expected.transpose()?,
                        timeout: runner.scaled(ack.timeout.map(|m| m.0)),
                    })
                })())
            })
            .collect::<Result<Vec<_>, Cause>>()?;
        let namespace = NamespaceOptions {
            nsp: step.namespace.clone(),
            auth,
            on_connect,
        };
        if let Ok(slot) = runner.slot(&step.client) {
            slot.on_connect_acks.extend(acked);
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
                    on_connect_acks: acked,
                    left_out: HashSet::new(),
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
            (ConnectOutcome::Connect, Some(Observed::Connect { .. })) => {
                let since = runner
                    .slot(&step.client)?
                    .client
                    .taken()
                    .last()
                    .map(|t| t.index);
                on_connect_acks(runner, &step.client, Some(&nsp), since.unwrap_or(0)).await
            }
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
                "expected {wanted} on {nsp}, got: {}{}",
                transcript::describe(&other),
                handshake_hint(&other, step.path.as_deref())
            ))),
            (_, None) => Err(Cause::Unmet(format!(
                "expected {wanted} on {nsp} within {timeout:?}, nothing came{}",
                runner.taken_earlier(&step.client, answer)
            ))),
        }
    }
}

/// An `on_connect` emit that asks for an ack, and what the ack must hold.
#[derive(Debug, Clone)]
pub(super) struct OnConnectAck {
    nsp: String,
    event: String,
    expected: Option<Vec<Value>>,
    timeout: Duration,
}

/// Waits for the acks of the `on_connect` emits (of namespace `only`, or of every namespace)
/// that the client sent after its history index `since`, and checks them.
pub(super) async fn on_connect_acks(
    runner: &mut Runner<'_>,
    client: &str,
    only: Option<&str>,
    since: usize,
) -> Result<(), Cause> {
    let slot = runner.slot(client)?;
    let wanted: Vec<OnConnectAck> = slot
        .on_connect_acks
        .iter()
        .filter(|a| only.is_none_or(|n| n == a.nsp))
        .cloned()
        .collect();
    let mut used = Vec::new();
    for want in wanted {
        let deadline = Instant::now() + want.timeout;
        // The emit the client sent by itself on (re)connecting, and the id it asked its ack by.
        let id = loop {
            slot.client.drain();
            let sent = slot
                .client
                .history()
                .iter()
                .skip(since)
                .find_map(|o| match &o.what {
                    Observed::Emit {
                        nsp,
                        event,
                        ack_id: Some(id),
                        ..
                    } if o.command.is_none()
                        && *nsp == want.nsp
                        && *event == want.event
                        && !used.contains(id) =>
                    {
                        Some(*id)
                    }
                    _ => None,
                });
            match sent {
                Some(id) => break id,
                None if Instant::now() < deadline => {
                    slot.client.pump_for(Duration::from_millis(10)).await;
                }
                None => {
                    return Err(Cause::Unmet(format!(
                        "on_connect emit {:?} on {} was not sent within {:?}",
                        want.event, want.nsp, want.timeout
                    )));
                }
            }
        };
        used.push(id);
        let answer = |o: &Observed| matches!(o, Observed::Ack { nsp, id: i, .. } | Observed::AckError { nsp, id: i, .. } if *nsp == want.nsp && *i == id);
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = slot
            .client
            .wait_for(left + Duration::from_millis(100), answer)
            .await;
        match reply.map(|o| o.what) {
            Some(Observed::Ack { args, .. }) => {
                if let Some(expected) = want.expected {
                    let expected = Value::Array(expected);
                    matcher::check(&expected, &Value::Array(args), false).map_err(|m| {
                        Cause::Unmet(format!("ack of on_connect {:?}: {m}", want.event))
                    })?;
                    slot.matched_last(expected);
                }
            }
            other => {
                return Err(Cause::Unmet(format!(
                    "no ack for on_connect {:?} on {} within {:?}{}",
                    want.event,
                    want.nsp,
                    want.timeout,
                    other
                        .map(|o| format!(": {}", transcript::describe(&o)))
                        .unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// For a refusal that is the transport's, not the server's: the likeliest cause, a path the
/// server does not serve Engine.IO on.
fn handshake_hint(seen: &Observed, path: Option<&str>) -> String {
    match seen {
        Observed::ConnectError { message, .. }
            if message == "websocket error" || message == "xhr poll error" =>
        {
            format!(
                "\n  (the Engine.IO handshake failed: does the server serve Socket.IO on {}? \
                 If not, set `path:` on the connect, or `defaults: {{path: ...}}` in the file)",
                path.unwrap_or("/socket.io/")
            )
        }
        _ => String::new(),
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
