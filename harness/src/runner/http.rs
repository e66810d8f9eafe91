//! `http`: the step's request sent to a node, HAProxy or a service, asked again until its
//! expectation holds when `within` says so; the last answer goes in the transcript, values are
//! captured from `{status, body}`.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::{Cause, Family, Runner};
use crate::matcher::{self, select};
use crate::request::{Answer, HttpRequest, RequestBody};
use crate::scenario::{HttpStep, Via};
use crate::template::Vars;
use crate::transcript::HttpExchange;

impl Family for HttpStep {
    fn check_target(&self, runner: &Runner<'_>) -> Result<(), Cause> {
        if self.via.is_some() {
            runner.target.haproxy_addr()?;
        }
        Ok(self
            .node
            .as_deref()
            .map_or(Ok(()), |n| runner.target.check_node(n))?)
    }

    async fn run(&self, runner: &mut Runner<'_>) -> Result<(), Cause> {
        let step = self;
        let method = HttpRequest::new(&step.method, String::new())
            .method()
            .map_err(|e| Cause::Invalid(e.to_string()))?;
        let path = runner.text(&step.path)?;
        let deadline = step.within.map(|within| Instant::now() + within.0);
        let failed = |detail: String| Cause::Http {
            method: method.to_string(),
            path: path.clone(),
            detail,
        };
        let answer = loop {
            let request = request(runner, step, &path)?;
            let sent = request_body(&request);
            let sent_at = runner.started.elapsed();
            let answer = request
                .exchange(&runner.http_client)
                .await
                .map_err(|e| match e {
                    crate::request::RequestError::Send(e) => failed(e.to_string()),
                    other => Cause::Invalid(other.to_string()),
                })?;
            let outcome = check(runner, step, &answer);
            match deadline {
                Some(deadline) if outcome.is_err() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => {
                    runner.http.push(HttpExchange {
                        method: method.to_string(),
                        // A service's and HAProxy's requests say whom they asked:
                        // `kuma:/__fake/...`, `haproxy:/`.
                        path: match (&step.service, step.via) {
                            (Some(service), _) => format!("{service}:{path}"),
                            (None, Some(Via::Haproxy)) => format!("haproxy:{path}"),
                            (None, None) => path.clone(),
                        },
                        request_body: sent,
                        status: answer.status,
                        body: answer.body.clone(),
                        expected_body: step
                            .expect_body
                            .as_ref()
                            .map(|b| runner.render(b))
                            .transpose()?,
                        at: sent_at,
                    });
                    outcome.map_err(|e| failed(e.to_string()))?;
                    break answer;
                }
            }
        };
        let exchange = json!({ "status": answer.status, "body": answer.body });
        for (var, selector) in &step.capture {
            let value = select(&exchange, selector).ok_or_else(|| {
                Cause::Unmet(format!(
                    "capture {var:?}: no {selector:?} in {exchange}: a path starts at `status` \
                     or `body`, then keys and indices, dotted (`body.id`, `body.items.0.id`)"
                ))
            })?;
            runner.vars.set(var.clone(), value.clone());
        }
        Ok(())
    }
}

/// `step`'s request, its templates filled, to the node, HAProxy or service it names.
fn request(runner: &Runner<'_>, step: &HttpStep, path: &str) -> Result<HttpRequest, Cause> {
    build_request(&base_url(runner, step)?, &runner.vars, step, path)
}

/// Where `step` sends its request: the node, HAProxy or service it names.
pub(super) fn base_url(runner: &Runner<'_>, step: &HttpStep) -> Result<String, Cause> {
    Ok(match (&step.service, step.via) {
        (Some(service), _) => runner.target.service_url(service),
        (None, Some(Via::Haproxy)) => runner
            .target
            .haproxy_addr()
            .map(|addr| format!("http://{addr}")),
        (None, None) => runner
            .target
            .node_url(step.node.as_deref())
            .map(str::to_owned),
    }?)
}

/// `step`'s request to `base_url`, its templates filled from `vars` (`path` filled already).
pub(super) fn build_request(
    base_url: &str,
    vars: &Vars,
    step: &HttpStep,
    path: &str,
) -> Result<HttpRequest, Cause> {
    let mut request = HttpRequest::new(&step.method, format!("{base_url}{path}"));
    request.bearer = step.token.as_deref().map(|t| vars.text(t)).transpose()?;
    for (key, value) in &step.headers {
        request.headers.push((key.clone(), vars.text(value)?));
    }
    request.body = match (&step.body, &step.raw_body) {
        (Some(body), _) => RequestBody::Json(vars.value(body)?),
        (None, Some(raw)) => RequestBody::RawJson(vars.text(raw)?),
        (None, None) => RequestBody::None,
    };
    Ok(request)
}

/// What `request` sent, for the transcript: its JSON, or a raw body (JSON when it parses).
fn request_body(request: &HttpRequest) -> Option<serde_json::Value> {
    match &request.body {
        RequestBody::None => None,
        RequestBody::Json(body) => Some(body.clone()),
        RequestBody::RawJson(raw) => Some(
            serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.clone())),
        ),
    }
}

/// Whether an answer is what `step` expects.
fn check(runner: &Runner<'_>, step: &HttpStep, answer: &Answer) -> Result<(), Cause> {
    let (status, body) = (answer.status, &answer.body);
    if let Some(expected) = step.status
        && expected != status
    {
        return Err(Cause::Unmet(format!(
            "expected status {expected}, got {status} {body}"
        )));
    }
    for (name, expected) in &step.expect_headers {
        let expected = runner.text(expected)?;
        let got = answer.headers.get(name.as_str()).map(|v| v.to_str());
        match got {
            Some(Ok(value)) if value == expected => {}
            Some(Ok(value)) => {
                return Err(Cause::Unmet(format!(
                    "expected header {name}: {expected}, got {name}: {value}"
                )));
            }
            Some(Err(_)) => {
                return Err(Cause::Unmet(format!(
                    "expected header {name}: {expected}, got a value that is not text"
                )));
            }
            None => {
                return Err(Cause::Unmet(format!(
                    "expected header {name}: {expected}, got no {name} ({status} {body})"
                )));
            }
        }
    }
    if let Some(expected) = &step.expect_body {
        matcher::check(&runner.render(expected)?, body, step.partial)
            .map_err(|m| Cause::Unmet(format!("body {m}\n  got: {body}")))?;
    }
    Ok(())
}
