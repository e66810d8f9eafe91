//! One HTTP request to a target, as hooks, token fetching and `http` steps all send it: a
//! method, a URL, headers, an optional bearer token and a JSON (or raw JSON) body, sent with
//! reqwest. Callers say what an answer must be; this module only sends and reads.

use reqwest::Method;
use serde_json::Value;

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// As written (`post`, `GET`): any casing.
    pub method: String,
    pub url: String,
    /// In the order they are added.
    pub headers: Vec<(String, String)>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer: Option<String>,
    pub body: RequestBody,
}

/// What a request carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RequestBody {
    #[default]
    None,
    Json(Value),
    /// Sent as it is, labelled `application/json` (for malformed bodies).
    RawJson(String),
}

/// Why a request could not be sent or its answer read. Each keeps the underlying error's own
/// words, so callers can say which request failed in their own terms.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The method's text is not a method (the `http` crate's words, which reqwest does not
    /// re-export as a type).
    #[error("{0}")]
    Method(String),
    #[error("{0}")]
    Send(#[source] reqwest::Error),
    #[error("{0}")]
    Read(#[source] reqwest::Error),
}

/// An answer: its status, headers and body (JSON, or else the text as a JSON string).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl HttpRequest {
    /// `method url` with no header and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            bearer: None,
            body: RequestBody::None,
        }
    }

    /// The method, upper-cased; an error for one HTTP cannot carry.
    pub fn method(&self) -> Result<Method, RequestError> {
        Method::from_bytes(self.method.to_uppercase().as_bytes())
            .map_err(|e| RequestError::Method(e.to_string()))
    }

    /// Sends the request; the answer is not read.
    pub async fn send(&self, client: &reqwest::Client) -> Result<reqwest::Response, RequestError> {
        let mut request = client.request(self.method()?, &self.url);
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        for (key, value) in &self.headers {
            request = request.header(key, value);
        }
        request = match &self.body {
            RequestBody::None => request,
            RequestBody::Json(body) => request.json(body),
            RequestBody::RawJson(raw) => request
                .header("content-type", "application/json")
                .body(raw.clone()),
        };
        request.send().await.map_err(RequestError::Send)
    }

    /// Sends the request and reads the whole answer.
    pub async fn exchange(&self, client: &reqwest::Client) -> Result<Answer, RequestError> {
        let response = self.send(client).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(RequestError::Read)?;
        Ok(Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        })
    }
}
