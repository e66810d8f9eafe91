//! What a step leaves out. A `connect` without `namespace`, `path` or `transport` takes the
//! file's `defaults` (else `/`, the target's Engine.IO path, websocket); an `emit`, `ack` or
//! `expect` without `namespace` is on the one namespace its client connected (else `/`; an
//! `expect` of several clients, the namespace they all connected), so a client connected only to
//! `/market` has its events, acks and disconnect expected on `/market`. [`apply`] resolves this
//! once, where the file is read, so the runner sees every namespace spelled out; [`elide`] is
//! its inverse for the writer, leaving out exactly what reading the file back restores.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ConnectStep, Step};
use crate::transport::TransportKind;

/// `defaults:` at the top of a file, for every `connect` of its scenarios.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub transport: Option<TransportKind>,
}

/// The namespaces each client connected so far, in order.
#[derive(Default)]
struct Connected(BTreeMap<String, Vec<String>>);

impl Connected {
    fn note(&mut self, connect: &ConnectStep) {
        let namespaces = self.0.entry(connect.client.clone()).or_default();
        if !namespaces.contains(&connect.namespace) {
            namespaces.push(connect.namespace.clone());
        }
    }

    fn namespace_of(&self, client: &str) -> Result<String, String> {
        match self.0.get(client).map(Vec::as_slice) {
            Some([only]) => Ok(only.clone()),
            Some(several @ [_, _, ..]) if !several.iter().any(|n| n == "/") => Err(format!(
                "client {client:?} connected {}: say which with `namespace`",
                several.join(" and ")
            )),
            _ => Ok("/".to_owned()),
        }
    }

    /// The namespace `step` is on when it names none; `None` for steps without one.
    fn default_for(&self, step: &Step) -> Result<Option<String>, String> {
        Ok(Some(match step {
            Step::Emit(emit) => self.namespace_of(&emit.client)?,
            Step::Ack(ack) => self.namespace_of(&ack.client)?,
            Step::Expect(expect) => {
                let namespaces = expect
                    .names()
                    .map(|c| self.namespace_of(c))
                    .collect::<Result<Vec<_>, _>>()?;
                // Clients on different namespaces share `/`, the default as it always was.
                match namespaces.split_first() {
                    Some((first, rest)) if rest.iter().all(|n| n == first) => first.clone(),
                    _ => "/".to_owned(),
                }
            }
            _ => return Ok(None),
        }))
    }
}

/// The namespace of a step that has one besides `connect`.
fn namespace_mut(step: &mut Step) -> Option<&mut String> {
    match step {
        Step::Emit(emit) => Some(&mut emit.namespace),
        Step::Ack(ack) => Some(&mut ack.namespace),
        Step::Expect(expect) => Some(&mut expect.namespace),
        _ => None,
    }
}

/// Fills in what each of `steps` left out; an error names the step (by index) whose namespace
/// cannot be told.
pub(super) fn apply<'s>(
    steps: impl IntoIterator<Item = &'s mut Step>,
    defaults: &Defaults,
) -> Result<(), (usize, String)> {
    let mut connected = Connected::default();
    for (index, step) in steps.into_iter().enumerate() {
        if let Step::Connect(connect) = step {
            if connect.namespace.is_empty() {
                connect.namespace = defaults.namespace.clone().unwrap_or_else(|| "/".into());
            }
            if connect.path.is_none() {
                connect.path.clone_from(&defaults.path);
            }
            if connect.transport.is_none() {
                connect.transport = defaults.transport;
            }
            connected.note(connect);
            continue;
        }
        if namespace_mut(step).is_some_and(|n| n.is_empty()) {
            let resolved = connected.default_for(step).map_err(|e| (index, e))?;
            if let (Some(namespace), Some(resolved)) = (namespace_mut(step), resolved) {
                *namespace = resolved;
            }
        }
    }
    Ok(())
}

/// Leaves out (empties) each step's namespace where [`apply`], without file defaults, gives it
/// back: a written file says no more than it must, and reads back as it was.
pub(super) fn elide<'s>(steps: impl IntoIterator<Item = &'s mut Step>) {
    let mut connected = Connected::default();
    for step in steps {
        if let Step::Connect(connect) = step {
            connected.note(connect);
            continue;
        }
        let implied = connected.default_for(step).ok().flatten();
        if let Some(namespace) = namespace_mut(step)
            && implied.as_ref() == Some(namespace)
        {
            namespace.clear();
        }
    }
}
