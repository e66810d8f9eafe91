//! The variables a scenario starts with: `--var`s, its `vars`, and its `tokens`, each minted
//! with the target's secret (or the scenario's `jwt_secret`) or fetched from the app's own
//! login endpoint.

use serde_json::{Value, json};

use super::{Cause, Runner};
use crate::jwt;
use crate::matcher::select;
use crate::request::{HttpRequest, RequestBody};
use crate::scenario::TokenRequest;

impl Runner<'_> {
    pub(super) async fn prepare_vars(&mut self) -> Result<(), Cause> {
        for (name, value) in self.settings.vars.iter().chain(&self.scenario.vars) {
            self.vars.set(name.clone(), value.clone());
        }
        let secret = self
            .vars
            .get("jwt_secret")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.target.secret.clone());
        let key_dir = std::path::Path::new(&self.file.path)
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf();
        for (name, spec) in &self.scenario.tokens {
            let token = match &spec.http {
                Some(request) => self.fetch_token(request).await,
                None => spec
                    .rendered(&self.vars)
                    .map_err(Cause::from)
                    .and_then(|spec| {
                        jwt::mint_in(&spec, secret.as_deref(), &key_dir)
                            .map_err(|e| Cause::Invalid(e.to_string()))
                    }),
            }
            .map_err(|cause| Cause::Token {
                name: name.clone(),
                detail: cause.to_string(),
            })?;
            self.vars.set(name.clone(), Value::String(token));
        }
        Ok(())
    }

    /// A token from the app's own login endpoint. Neither the request nor the answer goes in
    /// the transcript, and errors never quote the body: both may hold credentials.
    async fn fetch_token(&self, spec: &TokenRequest) -> Result<String, Cause> {
        let mut request = HttpRequest::new(&spec.method, String::new());
        let method = request
            .method()
            .map_err(|e| Cause::Invalid(e.to_string()))?;
        let path = self.text(&spec.path)?;
        request.url = format!("{}{path}", self.target.base_url);
        for (key, value) in &spec.headers {
            request.headers.push((key.clone(), self.text(value)?));
        }
        if let Some(body) = &spec.body {
            request.body = RequestBody::Json(self.render(body)?);
        }
        let failed = |detail: String| Cause::Http {
            method: method.to_string(),
            path: path.clone(),
            detail,
        };
        let response = request
            .send(&self.http_client)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let expected = spec
            .status
            .map_or(status.is_success(), |s| s == status.as_u16());
        if !expected {
            return Err(Cause::Unmet(format!("{method} {path} answered {status}")));
        }
        let text = response
            .text()
            .await
            .map_err(|e| Cause::Invalid(e.to_string()))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let exchange = json!({ "status": status.as_u16(), "body": body });
        match select(&exchange, &spec.capture) {
            Some(Value::String(token)) => Ok(token.clone()),
            Some(_) => Err(failed(format!("{:?} is not a string", spec.capture))),
            None => Err(failed(format!("the answer has no {:?}", spec.capture))),
        }
    }
}
