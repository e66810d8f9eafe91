//! Why a step failed, as data: a [`Cause`] (what went wrong, in the words the failure report
//! prints) inside a [`StepError`] that carries the step's index and source position. The
//! failure report ([`super::failure`]) is rendered from it once, at the edge.

use crate::client::ClientClosed;
use crate::target::TargetError;
use crate::template::TemplateError;

/// A step that failed, where it is in its file.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct StepError {
    /// The step's index in its scenario.
    pub index: usize,
    pub line: u64,
    pub column: u64,
    pub cause: Cause,
}

/// What went wrong in a step.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// A step names a client no earlier step connected.
    #[error("client {0:?} is not connected")]
    NotConnected(String),
    /// A `{{variable}}` that cannot be filled.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The client's driver is gone.
    #[error(transparent)]
    ClientClosed(#[from] ClientClosed),
    /// The target lacks what the step names, or failed to do what it asked.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A `server` step the target could not carry out.
    #[error("scenario {scenario:?}: {source}")]
    Server {
        scenario: String,
        source: TargetError,
    },
    #[error("cannot start the client's proxy: {0}")]
    Proxy(std::io::Error),
    /// A token that could not be minted or fetched.
    #[error("token {name:?}: {detail}")]
    Token { name: String, detail: String },
    /// A request that could not be sent or read.
    #[error("{method} {path}: {detail}")]
    Http {
        method: String,
        path: String,
        detail: String,
    },
    /// A value in the step that cannot be used as written (an ack id, base64).
    #[error("{0}")]
    Invalid(String),
    /// What the step expected did not happen; the text says what came instead.
    #[error("{0}")]
    Unmet(String),
    /// One of several clients the step is about.
    #[error("{client}: {cause}")]
    OfClient { client: String, cause: Box<Cause> },
}
