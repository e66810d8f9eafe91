//! The options every load-style command shares (`storm`, `fanout`, `churn`, `exhaust`), how such
//! a command starts its target within the open-files budget with the load users created, and the
//! two small load commands: `load-users` (their SQL) and the hidden `load-worker`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sio_harness::common::{preflight, users};
use sio_harness::load::{descriptors, workers};
use sio_harness::shaping::Conditions;
use sio_harness::target::{RunningTarget, Target};

use super::{CliError, print_report};

#[derive(Args)]
pub struct LoadArgs {
    /// A URL (its users `load-1`… must exist: see `load-users`) or a name in the targets file.
    #[arg(long)]
    target: String,
    #[arg(long, default_value = "scenarios/targets.yaml")]
    targets_file: PathBuf,
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// How long connecting everyone, or one round, may take.
    #[arg(long, default_value_t = 120)]
    pub deadline_s: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// JWT secret of a URL target (else JWT_SECRET).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Processes holding the clients (storm, fanout); default: as many as the open-files limit
    /// requires, each within it.
    #[arg(long)]
    workers: Option<usize>,
    /// Server nodes the clients are spread over (storm, fanout): needs a cluster target, whose
    /// node list this replaces (`a`, `b`, …).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Network conditions for every client (storm, fanout), through a shaping proxy in front of
    /// each node: `latency=150ms,jitter=50ms,bandwidth=256kbps,loss=1%`, a profile (`3g`,
    /// `slow-3g`, `lossy-wifi`, `satellite`), or a profile then overrides (`3g,loss=2%`).
    #[arg(long, value_parser = Conditions::parse)]
    pub network: Option<Conditions>,
}

impl LoadArgs {
    /// Checks the descriptor budget for `connections`, then starts (or resolves) the target and
    /// checks that it speaks the flow of `mode` ([`preflight`]).
    pub async fn start(
        &self,
        mode: &str,
        connections: usize,
    ) -> Result<(Target, RunningTarget), CliError> {
        let target = Target::resolve(&self.target, &self.targets_file, self.jwt_secret.clone())
            .and_then(|target| target.with_nodes(self.nodes))
            .map_err(|e| CliError::Target(e.to_string()))?;
        // Clients in worker processes hold their descriptors there; each node launched from
        // here inherits this process's limit and holds its share of the connections.
        let here = if self.worker_count() > 1 {
            0
        } else if self.network.is_some() {
            // The shaping proxy holds two more descriptors per client: its two sides.
            connections * 3
        } else {
            connections
        };
        let launched = matches!(target, Target::Launch { .. });
        let per_node = connections.div_ceil(self.nodes.max(1));
        let needed = here.max(if launched { per_node } else { 0 });
        let running = start_with_load_users(mode, &target, needed, self.clients).await?;
        Ok((target, running))
    }

    fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| descriptors::workers_needed(self.clients as u64))
    }

    /// The worker processes for this run, `None` when the clients fit in this one.
    pub fn workers(&self) -> Result<Option<workers::Workers>, CliError> {
        let count = self.worker_count();
        if count <= 1 {
            return Ok(None);
        }
        let exe = std::env::current_exe().map_err(|e| {
            CliError::Usage(format!(
                "cannot find this executable to start load workers: {e}"
            ))
        })?;
        Ok(Some(workers::Workers { exe, count }))
    }

    /// Progress lines for a person: on a terminal, and never with `--json`.
    pub fn progress(&self) -> bool {
        !self.json && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    pub fn print<T: serde::Serialize>(&self, report: &T, table: String) {
        print_report(self.json, report, table);
    }
}

/// Checks that `connections` fit in the open-files budget, then starts (or resolves) `target`;
/// a launched one gets the load users `load-1` … `load-<users>`. Before any load, one client
/// runs the flow `mode` speaks as `load-1`: a target that does not follow it is a usage error
/// (exit 2) naming what was expected, and is stopped.
pub async fn start_with_load_users(
    mode: &str,
    target: &Target,
    connections: usize,
    users: usize,
) -> Result<RunningTarget, CliError> {
    descriptors::ensure(connections as u64).map_err(|e| CliError::Usage(e.to_string()))?;
    let sql = users::sql(users.max(1));
    let running = target
        .start_with_sql(matches!(target, Target::Launch { .. }).then_some(sql.as_str()))
        .await
        .map_err(|e| CliError::Target(e.to_string()))?;
    let flow = preflight::Flow::dashboard();
    let checked = match users::token(&running, &users::name(1)) {
        Ok(token) => preflight::check(&running.base_url, &token, &flow)
            .await
            .map_err(|what| preflight::refusal(mode, target.name(), &flow, &what)),
        Err(error) => Err(error),
    };
    match checked {
        Ok(()) => Ok(running),
        Err(message) => {
            running.shutdown().await;
            Err(CliError::Usage(message))
        }
    }
}

/// `load-users N`: the SQL that creates the load users, for a server you run.
pub fn print_users(count: usize) -> ExitCode {
    print!("{}", users::sql(count));
    ExitCode::SUCCESS
}

/// `load-worker`: one worker process of a load run.
pub async fn serve_worker() -> Result<ExitCode, CliError> {
    sio_harness::load::worker_process::serve()
        .await
        .map(|()| ExitCode::SUCCESS)
        .map_err(CliError::Target)
}
