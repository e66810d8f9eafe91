//! `expect` (events in strict or any order, counted, with their arguments matched and values
//! captured; or a connect, connect error, disconnect, reconnect or failed reconnection) and
//! `expect_none` (no unwanted event within a window).

use std::time::Duration;

use serde_json::Value;

use super::{Cause, Family, Runner};
use crate::client::Observed;
use crate::matcher::{self, select};
use crate::scenario::{ConnectErrorMatch, EventMatch, ExpectNoneStep, ExpectStep, Order};
use crate::transcript;

impl Family for ExpectStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        for name in self.names() {
            expect(runner, name, self)
                .await
                .map_err(|cause| Cause::OfClient {
                    client: name.clone(),
                    cause: Box::new(cause),
                })?;
        }
        Ok(())
    }
}

async fn expect(runner: &mut Runner<'_>, name: &str, step: &ExpectStep) -> Result<(), Cause> {
    let timeout = runner.scaled(step.timeout.map(|m| m.0));
    let nsp = step.namespace.clone();
    if let Some(event) = &step.event {
        let single = EventMatch {
            event: event.clone(),
            args: step.args.clone(),
            partial: step.partial,
            capture: step.capture.clone(),
        };
        for _ in 0..step.count.unwrap_or(1) {
            expect_events(
                runner,
                name,
                &nsp,
                std::slice::from_ref(&single),
                Order::Strict,
                timeout,
            )
            .await?;
        }
        return Ok(());
    }
    if let Some(events) = &step.events {
        return expect_events(runner, name, &nsp, events, step.order, timeout).await;
    }
    let (what, kind): (&str, fn(&Observed) -> bool) = if step.connect.is_some() {
        ("connect", |o| matches!(o, Observed::Connect { .. }))
    } else if step.connect_error.is_some() {
        ("connect_error", |o| {
            matches!(o, Observed::ConnectError { .. })
        })
    } else if step.disconnect.is_some() {
        ("disconnect", |o| matches!(o, Observed::Disconnect { .. }))
    } else if step.reconnect.is_some() {
        ("reconnect", |o| matches!(o, Observed::Reconnect { .. }))
    } else {
        ("reconnect_failed", |o| {
            matches!(o, Observed::ReconnectFailed)
        })
    };
    // Reconnects belong to the whole client, not to a namespace.
    let wanted = |o: &Observed| kind(o) && o.nsp().is_none_or(|n| n == nsp);
    let slot = runner.slot(name)?;
    // The refusal a `connect` step took is still there for the first `expect` of it.
    let from_connect = match slot.refusal.take() {
        Some((refused, index)) if step.connect_error.is_some() && refused == nsp => Some(index),
        kept => {
            slot.refusal = kept;
            None
        }
    };
    let seen = match from_connect {
        Some(index) => slot.client.history().get(index).cloned(),
        None => slot.client.wait_for(timeout, wanted).await,
    };
    let seen = seen.ok_or_else(|| {
        Cause::Unmet(format!(
            "expected {what} on {nsp} within {timeout:?}{}",
            runner.taken_earlier(name, wanted)
        ))
    })?;
    match (&seen.what, &step.connect_error, &step.disconnect) {
        (Observed::ConnectError { message, data, .. }, Some(want), _) => {
            let shape = check_connect_error(want, message, data.as_ref())?;
            let slot = runner.slot(name)?;
            match from_connect {
                Some(index) => {
                    slot.matched.insert(index, shape);
                }
                None => slot.matched_last(shape),
            }
        }
        (
            Observed::Disconnect {
                reason,
                closed_by_server,
                ..
            },
            _,
            Some(want),
        ) => {
            if let Some(expected) = &want.reason
                && expected != reason
            {
                return Err(Cause::Unmet(format!(
                    "disconnect reason: expected {expected:?}, got {reason:?}"
                )));
            }
            if let Some(expected) = want.closed_by_server
                && expected != *closed_by_server
            {
                return Err(Cause::Unmet(format!(
                    "disconnect closed_by_server: expected {expected}, got {closed_by_server} \
                     (true: a websocket close frame or an Engine.IO close packet; false: the \
                     connection dropped)"
                )));
            }
        }
        // The reconnect is complete once the server has answered the acks `on_connect` asked.
        (Observed::Reconnect { .. }, _, _) => {
            let since = runner.slot(name)?.client.taken().last().map(|t| t.index);
            super::connect::on_connect_acks(runner, name, None, since.unwrap_or(0)).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn expect_events(
    runner: &mut Runner<'_>,
    name: &str,
    nsp: &str,
    events: &[EventMatch],
    order: Order,
    timeout: Duration,
) -> Result<(), Cause> {
    let expected: Vec<(String, Option<Value>)> = events
        .iter()
        .map(|e| {
            Ok((
                runner.text(&e.event)?,
                e.args
                    .as_ref()
                    .map(|a| runner.render_all(a))
                    .transpose()?
                    .map(Value::Array),
            ))
        })
        .collect::<Result<_, Cause>>()?;
    let mut captured = Vec::new();
    for (i, ((event, args), spec)) in expected.iter().zip(events).enumerate() {
        let slot = runner.slot(name)?;
        let wanted_names: Vec<&str> = match order {
            Order::Strict => expected[i..].iter().map(|(e, _)| e.as_str()).collect(),
            Order::Any => vec![event.as_str()],
        };
        let seen = slot
            .client
            .wait_for(timeout, |o| match o {
                Observed::Event {
                    nsp: n,
                    event: e,
                    args: got,
                    ..
                } if n == nsp && wanted_names.contains(&e.as_str()) => {
                    order == Order::Strict
                        || e != event
                        || args.as_ref().is_none_or(|a| {
                            matcher::check(a, &Value::Array(got.clone()), spec.partial).is_ok()
                        })
                }
                _ => false,
            })
            .await;
        let Some(seen) = seen else {
            let same_event = |o: &Observed| matches!(o, Observed::Event { nsp: n, event: e, .. } if n == nsp && e == event);
            return Err(Cause::Unmet(format!(
                "expected event {event:?} on {nsp} within {timeout:?}{}{}",
                describe_args(args.as_ref()),
                runner.taken_earlier(name, same_event)
            )));
        };
        let Observed::Event {
            event: got_event,
            args: got_args,
            ..
        } = seen.what
        else {
            return Err(Cause::Unmet("internal: matched a non-event".into()));
        };
        if got_event != *event {
            return Err(Cause::Unmet(format!(
                "expected event {event:?} next, got {got_event:?} {}",
                Value::Array(got_args)
            )));
        }
        let got = Value::Array(got_args);
        if let Some(args) = args {
            matcher::check(args, &got, spec.partial)
                .map_err(|m| Cause::Unmet(format!("event {event:?} args {m}\n  got: {got}")))?;
            runner.slot(name)?.matched_last(args.clone());
        }
        for (var, path) in &spec.capture {
            // `0.at` and `args.0.at` are the same path: into the event's arguments.
            let into_args = path.strip_prefix("args.").unwrap_or(path);
            let value = select(&got, into_args).ok_or_else(|| {
                Cause::Unmet(format!(
                    "capture {var:?}: no {path:?} in the arguments {got}: a path is the \
                     argument's index, then keys and indices, dotted (`0.at`, `args.0.at`, \
                     `1.items.2.id`)"
                ))
            })?;
            captured.push((var.clone(), value.clone()));
        }
    }
    for (var, value) in captured {
        runner.vars.set(var, value);
    }
    Ok(())
}

/// Checks a refusal against what a step expects of it (`message` and `data`, matchers allowed);
/// gives what it was matched against, `{message, data}` as the transcript writes the refusal.
pub(super) fn check_connect_error(
    want: &ConnectErrorMatch,
    message: &str,
    data: Option<&Value>,
) -> Result<Value, Cause> {
    let mut shape = serde_json::Map::new();
    if let Some(expected) = &want.message {
        let expected = Value::String(expected.clone());
        matcher::check(&expected, &Value::String(message.to_owned()), false).map_err(|_| {
            Cause::Unmet(format!(
                "connect_error message: expected {expected}, got {message:?}"
            ))
        })?;
        shape.insert("message".into(), expected);
    }
    if let Some(expected) = &want.data {
        matcher::check(expected, data.unwrap_or(&Value::Null), false)
            .map_err(|m| Cause::Unmet(format!("connect_error data: {m}")))?;
        shape.insert("data".into(), expected.clone());
    }
    Ok(Value::Object(shape))
}

fn describe_args(args: Option<&Value>) -> String {
    args.map(|a| format!(" with args {a}")).unwrap_or_default()
}

impl Family for ExpectNoneStep {
    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let step = self;
        let window = runner.scaled(Some(step.window.0));
        let names: Vec<&String> = step.names().collect();
        let mut pumps = Vec::new();
        for (name, slot) in runner.clients.iter_mut() {
            if names.contains(&&*name) {
                pumps.push(slot.client.pump_for(window));
            }
        }
        futures_util::future::join_all(pumps).await;
        for name in names {
            let slot = runner.slot(name)?;
            let unwanted: Vec<String> = slot
                .client
                .unconsumed()
                .filter(|o| match &o.what {
                    Observed::Event { event, .. } => {
                        step.events.is_empty() || step.events.contains(event)
                    }
                    _ => false,
                })
                .map(|o| transcript::describe(&o.what))
                .collect();
            if !unwanted.is_empty() {
                return Err(Cause::Unmet(format!(
                    "{name} expected no event for {window:?}, got:\n  {}",
                    unwanted.join("\n  ")
                )));
            }
        }
        Ok(())
    }
}
