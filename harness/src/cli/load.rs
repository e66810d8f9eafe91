//! The options every load-style command shares (`storm`, `fanout`, `churn`, `exhaust`), the load
//! profile they all take (`--profile`), how such a command starts its target within the
//! open-files budget with the profile's `seed_sql` loaded and its preflight passed, and the two
//! small load commands: `load-users` (this repository's users, as SQL) and the hidden
//! `load-worker`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use sio_harness::common::preflight;
use sio_harness::common::users;
use sio_harness::common::virtual_client::VirtualClients;
use sio_harness::load::{descriptors, workers};
use sio_harness::scenario::profile::{ProfileFile, load_profile};
use sio_harness::shaping::Conditions;
use sio_harness::target::{RunningTarget, Target};

use super::{CliError, print_report};

#[derive(Args)]
pub struct LoadArgs {
    /// The load profile: how one virtual client connects, what marks it ready, and what fan-out,
    /// churn and the control client do (harness/README.md, "Load profiles").
    #[arg(long)]
    profile: Option<PathBuf>,
    /// A URL (the users the profile's tokens name must exist) or a name in the targets file.
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
    /// Checks the profile and the descriptor budget for `connections`, then starts (or
    /// resolves) the target and checks that it follows the profile ([`preflight`]).
    pub async fn start(
        &self,
        mode: &str,
        connections: usize,
    ) -> Result<(Target, RunningTarget, VirtualClients), CliError> {
        let profile = profile_for(mode, self.profile.as_deref())?;
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
        let (running, profile) =
            start_with_profile(mode, &target, needed, profile, self.clients).await?;
        Ok((target, running, profile))
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

/// The profile `--profile` names, parsed and checked, with the sections `mode` needs; a
/// missing `--profile` is a usage error that says what a profile is and where two are.
pub fn profile_for(mode: &str, path: Option<&Path>) -> Result<ProfileFile, CliError> {
    let path = path.ok_or_else(|| {
        CliError::Usage(format!(
            "{mode} needs --profile FILE: a load profile says how one virtual client of your app \
             connects and what marks it ready (see harness/README.md, \"Load profiles\"; \
             examples/chat/load.profile.yaml is one, benches/dashboard.profile.yaml is this \
             repository's dashboard)"
        ))
    })?;
    let file = load_profile(path).map_err(|e| CliError::Usage(e.to_string()))?;
    let missing = match mode {
        "fanout" if file.profile.fanout.is_none() => Some("fanout"),
        "exhaust" | "fuzz" if file.profile.control.is_none() => Some("control"),
        _ => None,
    };
    match missing {
        Some(section) => Err(CliError::Usage(format!(
            "{mode} needs a `{section}` section in the profile {}",
            file.path
        ))),
        None => Ok(file),
    }
}

/// Checks that `connections` fit in the open-files budget, then starts (or resolves) `target`;
/// a launched one gets the profile's `seed_sql` for `clients` clients. Before any load, virtual
/// client 1 connects and must become ready: a target that does not follow the profile is a
/// usage error (exit 2) naming what was expected, and is stopped.
pub async fn start_with_profile(
    mode: &str,
    target: &Target,
    connections: usize,
    profile: ProfileFile,
    clients: usize,
) -> Result<(RunningTarget, VirtualClients), CliError> {
    descriptors::ensure(connections as u64).map_err(|e| CliError::Usage(e.to_string()))?;
    let seed = VirtualClients::new(profile.clone(), None)
        .seed_sql(clients)
        .map_err(|e| CliError::Usage(format!("{}: seed_sql: {e}", profile.path)))?;
    let launched = matches!(target, Target::Launch { .. });
    let running = target
        .start_with_sql(seed.as_deref().filter(|_| launched))
        .await
        .map_err(|e| CliError::Target(e.to_string()))?;
    let profile = VirtualClients::new(profile, running.secret.clone());
    let conversation = match profile.conversation() {
        Ok(conversation) => conversation,
        Err(error) => {
            running.shutdown().await;
            return Err(CliError::Usage(format!("{}: {error}", profile.path)));
        }
    };
    let checked = match profile.clients([1]) {
        Ok(first) => match first.first() {
            Some(client) => preflight::check(&running.base_url, client, &conversation)
                .await
                .map_err(|what| {
                    preflight::refusal(mode, target.name(), &profile.path, &conversation, &what)
                }),
            None => Err("the profile gave no client".to_owned()),
        },
        Err(error) => Err(format!("{}: {error}", profile.path)),
    };
    match checked {
        Ok(()) => Ok((running, profile)),
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
