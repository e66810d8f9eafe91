//! Per-target hooks: what runs before (`reset`) and after (`after`) each scenario, so that
//! scenarios against one long-running server do not see each other's data. A hook is an HTTP
//! request to the target (`{http: {method: POST, path: /test/reset}}`) or a command
//! (`{command: [...]}`, run in the targets file's directory with `SIO_TARGET_URL` set).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::request::{HttpRequest, RequestBody};
use crate::transcript::Redaction;

/// How long one hook may take before the scenario is given up.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("{which} hook: {method} {url}: {detail}")]
    Http {
        which: &'static str,
        method: String,
        url: String,
        detail: String,
    },
    #[error("{which} hook: command {program:?}: {detail}")]
    Command {
        which: &'static str,
        program: String,
        detail: String,
    },
    #[error("{0:?} is not a hook: write `METHOD /path` (e.g. `POST /test/reset`) or `/path`")]
    Syntax(String),
}

/// One hook.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Hook {
    Http(HookRequest),
    /// Program and arguments; `{env:NAME}` is expanded.
    Command(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookRequest {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// Expected status; default: any 2xx.
    #[serde(default)]
    pub status: Option<u16>,
}

fn default_method() -> String {
    "POST".to_owned()
}

impl Hook {
    /// `POST /test/reset`, `GET /x`, or `/path` (POST): the `--reset` option's syntax.
    pub fn parse_http(text: &str) -> Result<Self, HookError> {
        let text = text.trim();
        let (method, path) = match text.split_once(' ') {
            Some((method, path)) => (method.to_uppercase(), path.trim()),
            None => (default_method(), text),
        };
        if !path.starts_with('/') || method.is_empty() {
            return Err(HookError::Syntax(text.to_owned()));
        }
        Ok(Hook::Http(HookRequest {
            method,
            path: path.to_owned(),
            headers: BTreeMap::new(),
            body: None,
            status: None,
        }))
    }

    async fn run(&self, which: &'static str, base_url: &str, dir: &Path) -> Result<(), HookError> {
        match self {
            Hook::Http(request) => request.send(which, base_url).await,
            Hook::Command(argv) => run_command(which, argv, base_url, dir).await,
        }
    }
}

impl HookRequest {
    async fn send(&self, which: &'static str, base_url: &str) -> Result<(), HookError> {
        let url = format!("{base_url}{}", self.path);
        let error = |detail: String| HookError::Http {
            which,
            method: self.method.clone(),
            url: url.clone(),
            detail,
        };
        let request = HttpRequest {
            headers: self
                .headers
                .iter()
                .map(|(key, value)| (key.clone(), crate::target::expand_env(value)))
                .collect(),
            body: self
                .body
                .clone()
                .map_or(RequestBody::None, RequestBody::Json),
            ..HttpRequest::new(&self.method, &url)
        };
        request.method().map_err(|e| error(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(HOOK_TIMEOUT)
            .build()
            .map_err(|e| error(e.to_string()))?;
        let response = request
            .send(&client)
            .await
            .map_err(|e| error(e.to_string()))?;
        let status = response.status();
        let expected = self
            .status
            .map_or(status.is_success(), |s| s == status.as_u16());
        if !expected {
            // The status only: a reset endpoint's body is the app's business, and may hold data.
            return Err(error(format!(
                "answered {status}, expected {}",
                self.status
                    .map_or_else(|| "a 2xx status".to_owned(), |s| s.to_string())
            )));
        }
        Ok(())
    }
}

async fn run_command(
    which: &'static str,
    argv: &[String],
    base_url: &str,
    dir: &Path,
) -> Result<(), HookError> {
    let argv: Vec<String> = argv.iter().map(|a| crate::target::expand_env(a)).collect();
    let program = argv.first().cloned().unwrap_or_default();
    let error = |detail: String| HookError::Command {
        which,
        program: program.clone(),
        detail,
    };
    let (first, args) = argv
        .split_first()
        .ok_or_else(|| error("empty command".into()))?;
    let child = tokio::process::Command::new(first)
        .args(args)
        .current_dir(dir)
        .env("SIO_TARGET_URL", base_url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(HOOK_TIMEOUT, child)
        .await
        .map_err(|_| error(format!("did not finish within {HOOK_TIMEOUT:?}")))?
        .map_err(|e| error(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        return Err(error(format!("exited with {}: {last}", output.status)));
    }
    Ok(())
}

/// A target's hooks, and the directory their commands run in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    pub reset: Option<Hook>,
    pub after: Option<Hook>,
    pub dir: PathBuf,
    /// Not a hook but the other thing a targets file adds to each scenario run: how its
    /// transcripts are redacted (`redact`).
    pub redact: Vec<Redaction>,
}

impl Hooks {
    /// Before a scenario.
    pub async fn before_scenario(&self, base_url: &str) -> Result<(), HookError> {
        match &self.reset {
            Some(hook) => hook.run("reset", base_url, &self.dir).await,
            None => Ok(()),
        }
    }

    /// After a scenario, whatever its outcome.
    pub async fn after_scenario(&self, base_url: &str) -> Result<(), HookError> {
        match &self.after {
            Some(hook) => hook.run("after", base_url, &self.dir).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_option_syntax() {
        let Ok(Hook::Http(request)) = Hook::parse_http("post /test/reset") else {
            panic!("not parsed");
        };
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/test/reset")
        );
        assert!(matches!(Hook::parse_http("/reset"), Ok(Hook::Http(r)) if r.method == "POST"));
        assert!(Hook::parse_http("POST reset").is_err());
    }

    #[test]
    fn yaml_forms() {
        let http: Hook = serde_saphyr::from_str("http: {method: DELETE, path: /data, status: 204}")
            .expect("parses");
        assert!(matches!(
            http,
            Hook::Http(HookRequest {
                status: Some(204),
                ..
            })
        ));
        let command: Hook = serde_saphyr::from_str("command: [sh, -c, 'true']").expect("parses");
        assert_eq!(
            command,
            Hook::Command(vec!["sh".into(), "-c".into(), "true".into()])
        );
    }

    #[tokio::test]
    async fn commands_run_and_failures_say_why() {
        let hooks = Hooks {
            reset: Some(Hook::Command(vec![
                "sh".into(),
                "-c".into(),
                "test \"$SIO_TARGET_URL\" = http://x".into(),
            ])),
            after: Some(Hook::Command(vec![
                "sh".into(),
                "-c".into(),
                "echo nope >&2; exit 3".into(),
            ])),
            dir: PathBuf::from("."),
            redact: Vec::new(),
        };
        hooks
            .before_scenario("http://x")
            .await
            .expect("the reset hook passes");
        let error = hooks.after_scenario("http://x").await.expect_err("fails");
        let text = error.to_string();
        assert!(
            text.contains("after hook") && text.contains("nope"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_an_error() {
        let port = crate::target::free_port().expect("a port");
        let hooks = Hooks {
            reset: Hook::parse_http("POST /test/reset").ok(),
            ..Hooks::default()
        };
        let error = hooks
            .before_scenario(&format!("http://127.0.0.1:{port}"))
            .await
            .expect_err("nothing listens");
        assert!(error.to_string().starts_with("reset hook: POST"), "{error}");
    }
}
