//! `database: stop` and `database: start`: the target's own PostgreSQL (a cluster launched
//! with `cluster.postgres`) stopped as in an outage, and started again on the same port and data.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a `database` step does to the target's PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseAction {
    /// Fast shutdown: open connections are cut, new ones refused.
    Stop,
    /// Start it again, on the same port and data.
    Start,
}
