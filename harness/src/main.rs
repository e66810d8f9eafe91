//! `sio-harness` command line: `run`, `diff`, `check`, `init`, the load modes (`storm`,
//! `fanout`, `churn`) and `fuzz`.
//!
//! Exit codes: 0 all passed; 1 an expectation failed or a transcript differs; 2 usage error;
//! 3 a scenario file has an error; 4 a target could not be started or reached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sio_harness::exhaust::{self, Attack, ExhaustOptions};
use sio_harness::fuzz::differential::known::KnownDifferences;
use sio_harness::fuzz::differential::{self, DifferentialOptions};
use sio_harness::fuzz::{self, FuzzOptions};
use sio_harness::hooks::Hook;
use sio_harness::load::churn::{self, ChurnMode, ChurnOptions};
use sio_harness::load::fanout::{self, FanoutOptions};
use sio_harness::load::storm::{self, Cause, StormOptions};
use sio_harness::load::workers::Workers;
use sio_harness::report;
use sio_harness::runner::RunSettings;
use sio_harness::shaping::Conditions;
use sio_harness::snapshot::{self, UpdateMode};
use sio_harness::suite::{self, Outcome, SuiteOptions};
use sio_harness::target::{RunningTarget, Target};

// mimalloc, as in the server: the load modes allocate per message across worker threads, and the
// load generator must cost as little CPU as it can on the cores it shares with the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_SCENARIO_ERROR: u8 = 3;
const EXIT_TARGET_ERROR: u8 = 4;

#[derive(Parser)]
#[command(
    name = "sio-harness",
    version,
    about = "Socket.IO v4 protocol harness: scenarios, transcripts, snapshots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against a target and compare transcripts with snapshots.
    Run {
        /// A URL (http://host:port) or a name in the targets file.
        #[arg(long)]
        target: String,
        #[command(flatten)]
        common: Common,
        /// Snapshot directory.
        #[arg(long, default_value = "snapshots")]
        snapshots: PathBuf,
        /// Overwrite snapshots with this run's transcripts.
        #[arg(long)]
        update: bool,
        #[arg(long)]
        report_junit: Option<PathBuf>,
        #[arg(long)]
        report_json: Option<PathBuf>,
        /// Write an HTML page of the run (results, timelines, snapshot diffs) as DIR/index.html.
        #[arg(long, value_name = "DIR")]
        report_html: Option<PathBuf>,
    },
    /// Run the same scenarios against two targets and show where their transcripts differ.
    Diff {
        /// Exactly two targets.
        #[arg(long = "target", num_args = 1, required = true)]
        targets: Vec<String>,
        #[command(flatten)]
        common: Common,
        /// Write an HTML page with both transcripts side by side as DIR/index.html.
        #[arg(long, value_name = "DIR")]
        report_html: Option<PathBuf>,
    },
    /// Parse and validate scenario files without a server.
    Check {
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
    },
    /// Reconnect storm: N subscribed clients lose their connection at once and come back.
    Storm {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// 0: all reconnect at once; otherwise spread by the official client's jitter over about this long.
        #[arg(long, default_value_t = 0)]
        spread_ms: u64,
        #[arg(long, value_enum, default_value_t = Cause::Drop)]
        cause: Cause,
    },
    /// Fan-out: one event to N subscribers, repeated.
    Fanout {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// Pause between one message reaching every subscriber and the next message.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
    },
    /// Churn: short connections opened at a steady rate and closed, the server's memory followed.
    Churn {
        #[command(flatten)]
        load: LoadArgs,
        /// Connections started per second.
        #[arg(long, default_value_t = 500)]
        rate: u32,
        /// How long connections keep being started, in seconds.
        #[arg(long, default_value_t = 60)]
        duration_s: u64,
        /// How long memory keeps being sampled afterwards, in seconds.
        #[arg(long, default_value_t = 15)]
        idle_s: u64,
        #[arg(long, value_enum, default_value_t = ChurnMode::Clean)]
        mode: ChurnMode,
        /// Milliseconds each connection stays after its `status:current` (a soak: rate x hold
        /// clients connected at once).
        #[arg(long, default_value_t = 0)]
        hold_ms: u64,
        /// Seconds between samples of the server.
        #[arg(long, default_value_t = 1.0)]
        sample_s: f64,
    },
    /// Exhaustion: connections that never become users (silent TCP, WebSocket sessions that never
    /// connect a namespace, polling sessions never polled, slowloris request heads), then idle
    /// authenticated sockets (`--clients`), one kind at a time, each held while a control client
    /// is timed; exit 1 if the server exits or the control client is refused.
    Exhaust {
        #[command(flatten)]
        load: LoadArgs,
        /// Silent TCP connections.
        #[arg(long, default_value_t = 5000)]
        tcp: usize,
        /// WebSocket upgrades whose Engine.IO session never sends the Socket.IO connect.
        #[arg(long, default_value_t = 5000)]
        websocket: usize,
        /// Polling handshakes never polled again.
        #[arg(long, default_value_t = 5000)]
        polling: usize,
        /// Request heads sent one byte a second.
        #[arg(long, default_value_t = 1000)]
        slowloris: usize,
        /// Seconds each phase holds its connections.
        #[arg(long, default_value_t = 30)]
        hold_s: u64,
        /// Seconds of the control client alone, first.
        #[arg(long, default_value_t = 10)]
        quiet_s: u64,
    },
    /// Protocol fuzzing: seeded valid and mutated frames over many short connections, with a
    /// control client timed throughout; exit 1 (and a reproducer) if the server exits, panics or
    /// stops answering. With two targets, differential fuzzing instead: generated event sequences
    /// run on both, and a difference is shrunk and saved as a scenario (exit 1).
    Fuzz {
        /// A URL (fuzz connections sign in as user-2, the control client as user-1) or a name in
        /// the targets file; twice (e.g. `--target node --target rust`) for differential fuzzing.
        #[arg(long = "target", num_args = 1, required = true)]
        targets: Vec<String>,
        /// Differential: event sequences to generate.
        #[arg(long, default_value_t = 300)]
        sequences: u64,
        /// Differential: sequences run on one launch of each server.
        #[arg(long, default_value_t = 50)]
        per_launch: usize,
        /// Differential: declared (documented) differences, counted as known instead of failing.
        #[arg(long)]
        known: Option<PathBuf>,
        #[arg(long, default_value = "scenarios/targets.yaml")]
        targets_file: PathBuf,
        /// Seed of the frame sequence; the same seed sends the same frames (default: random,
        /// printed in the report).
        #[arg(long)]
        seed: Option<u64>,
        /// Engine.IO packets to generate.
        #[arg(long, default_value_t = 100_000)]
        frames: u64,
        /// Connections in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds the server idles after the last frame before its memory is read again.
        #[arg(long, default_value_t = 10)]
        settle_s: u64,
        /// The server's largest packet in bytes (payloads are generated just under and over it).
        #[arg(long, default_value_t = sio_harness::fuzz::generate::DEFAULT_MAX_PAYLOAD)]
        max_payload: usize,
        /// Print case N of the seed as a `raw` scenario and exit, without a server.
        #[arg(long)]
        show_case: Option<u64>,
        /// Where a failing run writes its reproducer scenario.
        #[arg(long = "save", default_value = "fuzz-failures")]
        save_dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// JWT secret of a URL target (else JWT_SECRET).
        #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
    },
    /// Record live traffic into a scenario: a proxy that clients connect through; Ctrl-C (or
    /// --duration) writes the file, then replays it once to write its snapshot.
    Record(RecordArgs),
    /// Print the SQL that creates the load mode's users `load-1` … `load-N` (for a server you run).
    LoadUsers { count: usize },
    /// Internal: one worker process of a load run (a plan on stdin, reports on stdout).
    #[command(hide = true)]
    LoadWorker,
    /// Write a starter scenarios folder (targets, an example scenario, a README); never
    /// overwrites a file.
    Init {
        #[arg(default_value = "scenarios")]
        dir: PathBuf,
    },
}

#[derive(Args)]
struct RecordArgs {
    /// The server: http://host:port.
    #[arg(long)]
    upstream: String,
    /// Where clients connect (port 0: a free port, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// The scenario file to write.
    #[arg(long)]
    out: PathBuf,
    /// Stop after this long (e.g. 30s, 2m) instead of at Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// The scenario's name (default: the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// The Engine.IO path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// Snapshot directory of the replay that writes the snapshot.
    #[arg(long, default_value = "snapshots")]
    snapshots: PathBuf,
    /// Write the file only, no replay and no snapshot.
    #[arg(long)]
    no_snapshot: bool,
    /// JWT secret of the upstream, for the replay's tokens (else JWT_SECRET).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A variable for the replay, e.g. a secret the file names: `--var password=...`.
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let ms = sio_harness::scenario::parse_duration_ms(text)?;
    u64::try_from(ms)
        .map(std::time::Duration::from_millis)
        .map_err(|_| format!("{text:?}: a duration cannot be negative"))
}

#[derive(Args)]
struct LoadArgs {
    /// A URL (its users `load-1`… must exist: see `load-users`) or a name in the targets file.
    #[arg(long)]
    target: String,
    #[arg(long, default_value = "scenarios/targets.yaml")]
    targets_file: PathBuf,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// How long connecting everyone, or one round, may take.
    #[arg(long, default_value_t = 120)]
    deadline_s: u64,
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
    network: Option<Conditions>,
}

impl LoadArgs {
    /// Checks the descriptor budget for `connections`, then starts (or resolves) the target.
    async fn start(&self, connections: usize) -> Result<(Target, RunningTarget), ExitCode> {
        let target = Target::resolve(&self.target, &self.targets_file, self.jwt_secret.clone())
            .and_then(|target| target.with_nodes(self.nodes))
            .map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_TARGET_ERROR)
            })?;
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
        let running = start_with_load_users(&target, needed, self.clients).await?;
        Ok((target, running))
    }

    fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| sio_harness::load::descriptors::workers_needed(self.clients as u64))
    }

    /// The worker processes for this run, `None` when the clients fit in this one.
    fn workers(&self) -> Result<Option<Workers>, ExitCode> {
        let count = self.worker_count();
        if count <= 1 {
            return Ok(None);
        }
        let exe = std::env::current_exe().map_err(|e| {
            eprintln!("error: cannot find this executable to start load workers: {e}");
            ExitCode::from(EXIT_USAGE)
        })?;
        Ok(Some(Workers { exe, count }))
    }

    /// Progress lines for a person: on a terminal, and never with `--json`.
    fn progress(&self) -> bool {
        !self.json && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    fn print<T: serde::Serialize>(&self, report: &T, table: String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(report).unwrap_or_default()
            );
        } else {
            print!("{table}");
        }
    }
}

#[derive(Args)]
struct Common {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Named launch specs.
    #[arg(long, default_value = "scenarios/targets.yaml")]
    targets_file: PathBuf,
    /// Only scenarios whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// A variable for every scenario: `--var name=value`.
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// Multiply every timeout by this (slow machines).
    #[arg(long, default_value_t = 1.0)]
    timeout_scale: f64,
    /// Scenarios run at once (each with its own launched target).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Run every scenario N times and report each one whose runs differ (flaky); reads and
    /// writes no snapshot.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// JWT secret of a URL target, for minting tokens (else JWT_SECRET).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// An HTTP request to the target before each scenario, e.g. `POST /test/reset` (replaces
    /// the target's `reset` hook); run with `--jobs 1`, as scenarios share the server.
    #[arg(long, value_name = "METHOD /PATH")]
    reset: Option<String>,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not name=value"))
}

impl Common {
    fn settings(&self) -> RunSettings {
        let vars: BTreeMap<_, _> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        RunSettings {
            timeout_scale: self.timeout_scale,
            vars,
        }
    }

    /// Suite options without snapshots.
    fn options(&self) -> SuiteOptions {
        SuiteOptions {
            settings: self.settings(),
            filter: self.filter.clone(),
            jobs: self.jobs,
            snapshots: None,
            repeat: self.repeat as usize,
        }
    }

    fn load(&self) -> Result<Vec<sio_harness::scenario::ScenarioFile>, ExitCode> {
        let files = suite::discover(&self.paths).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_SCENARIO_ERROR)
        })?;
        if files.is_empty() {
            eprintln!("error: no scenario files in {:?}", self.paths);
            return Err(ExitCode::from(EXIT_SCENARIO_ERROR));
        }
        suite::load(&files).map_err(|e| {
            eprintln!("{e}");
            ExitCode::from(EXIT_SCENARIO_ERROR)
        })
    }

    fn target(&self, name: &str) -> Result<Target, ExitCode> {
        let target =
            Target::resolve(name, &self.targets_file, self.jwt_secret.clone()).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_TARGET_ERROR)
            })?;
        match &self.reset {
            None => Ok(target),
            Some(text) => Hook::parse_http(text)
                .map(|hook| target.with_reset(hook))
                .map_err(|e| {
                    eprintln!("error: --reset: {e}");
                    ExitCode::from(EXIT_USAGE)
                }),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { paths } => check(&paths),
        Command::Run {
            target,
            common,
            snapshots,
            update,
            report_junit,
            report_json,
            report_html,
        } => {
            let reports = Reports {
                junit: report_junit,
                json: report_json,
                html: report_html,
            };
            run(&target, &common, snapshots, update, &reports).await
        }
        Command::Diff {
            targets,
            common,
            report_html,
        } => diff(&targets, &common, report_html.as_deref()).await,
        Command::Record(args) => record(args).await,
        Command::Storm {
            load,
            rounds,
            spread_ms,
            cause,
        } => on_worker(async move { storm(&load, rounds, spread_ms, cause).await }).await,
        Command::Fanout {
            load,
            messages,
            interval_ms,
        } => on_worker(async move { fanout(&load, messages, interval_ms).await }).await,
        Command::Churn {
            load,
            rate,
            duration_s,
            idle_s,
            mode,
            hold_ms,
            sample_s,
        } => {
            on_worker(async move {
                let options = ChurnOptions {
                    rate,
                    duration: std::time::Duration::from_secs(duration_s),
                    mode,
                    users: load.clients,
                    idle: std::time::Duration::from_secs(idle_s),
                    hold: std::time::Duration::from_millis(hold_ms),
                    sample_every: std::time::Duration::from_secs_f64(sample_s.max(0.1)),
                };
                churn(&load, &options).await
            })
            .await
        }
        Command::Exhaust {
            load,
            tcp,
            websocket,
            polling,
            slowloris,
            hold_s,
            quiet_s,
        } => {
            on_worker(async move {
                let phases = vec![
                    (Attack::Tcp, tcp),
                    (Attack::Websocket, websocket),
                    (Attack::Polling, polling),
                    (Attack::Slowloris, slowloris),
                    (Attack::Idle, load.clients),
                ];
                let options = ExhaustOptions {
                    phases: phases.into_iter().filter(|(_, n)| *n > 0).collect(),
                    hold: std::time::Duration::from_secs(hold_s),
                    quiet: std::time::Duration::from_secs(quiet_s),
                    users: load.clients.min(FUZZ_USERS),
                };
                exhaust(&load, &options).await
            })
            .await
        }
        Command::Fuzz {
            targets,
            sequences,
            per_launch,
            known,
            targets_file,
            seed,
            frames,
            concurrency,
            settle_s,
            max_payload,
            show_case,
            save_dir,
            json,
            jwt_secret,
        } => {
            let seed = seed.unwrap_or_else(rand::random);
            let target = match targets.as_slice() {
                [one] => one.clone(),
                [left, right] => {
                    let options = DifferentialArgs {
                        targets: [left.clone(), right.clone()],
                        targets_file,
                        jwt_secret,
                        seed,
                        sequences,
                        per_launch,
                        known,
                        save_dir,
                        json,
                    };
                    // Not on a worker thread: the runner's futures are not `Send` for every
                    // lifetime, which `tokio::spawn` requires; a handful of clients needs none.
                    return differential(options).await.unwrap_or_else(|code| code);
                }
                _ => {
                    eprintln!("error: fuzz takes one --target (protocol) or two (differential)");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            if let Some(index) = show_case {
                let case = fuzz::generate::Generator::new(seed, frames, max_payload, 1)
                    .find(|case| case.index == index);
                let Some(case) = case else {
                    eprintln!("error: seed {seed} has no case {index} within {frames} frames");
                    return ExitCode::from(EXIT_USAGE);
                };
                let failure = fuzz::reproducer::Failure {
                    target: &target,
                    seed,
                    reason: "shown with --show-case",
                };
                return match fuzz::reproducer::scenario(&failure, &[case]) {
                    Ok(text) => {
                        print!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            on_worker(async move {
                let target = Target::resolve(&target, &targets_file, jwt_secret).map_err(|e| {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_TARGET_ERROR)
                })?;
                let launched = matches!(target, Target::Launch { .. });
                let options = FuzzOptions {
                    seed,
                    frames,
                    concurrency,
                    settle: std::time::Duration::from_secs(settle_s),
                    save_dir,
                    max_payload,
                    // A launched server gets users of its own, so the rate limit spreads the
                    // fuzz over many allowances; a URL target has the fixtures' user-2 only.
                    users: if launched {
                        (1..=FUZZ_USERS).map(|i| format!("load-{i}")).collect()
                    } else {
                        vec!["user-2".to_owned()]
                    },
                };
                fuzz(&target, &options, json).await
            })
            .await
        }
        Command::LoadUsers { count } => {
            print!("{}", sio_harness::load::users_sql(count));
            Ok(ExitCode::SUCCESS)
        }
        Command::LoadWorker => sio_harness::load::workers::serve()
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(load_error),
        Command::Init { dir } => match sio_harness::init::write(&dir) {
            Ok(written) => {
                for path in written {
                    println!("wrote {}", path.display());
                }
                println!(
                    "next: start your server on port 3000, then\n  sio-harness run --target local --targets-file {0}/targets.yaml --snapshots {0}/snapshots --update {0}",
                    dir.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                eprintln!("error: {error}");
                Err(ExitCode::from(EXIT_USAGE))
            }
        },
    };
    result.unwrap_or_else(|code| code)
}

/// Runs a load command on a worker thread rather than on the thread `block_on` parks: every
/// delivery is reported to the command's task, and waking a parked thread costs a futex call.
async fn on_worker(
    command: impl Future<Output = Result<ExitCode, ExitCode>> + Send + 'static,
) -> Result<ExitCode, ExitCode> {
    tokio::spawn(command).await.map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::FAILURE
    })?
}

fn check(paths: &[PathBuf]) -> Result<ExitCode, ExitCode> {
    let files = suite::discover(paths).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_SCENARIO_ERROR)
    })?;
    let mut failed = false;
    for file in &files {
        match sio_harness::scenario::load_file(file) {
            Ok(parsed) => println!(
                "ok  {} ({} scenarios)",
                file.display(),
                parsed.scenarios.len()
            ),
            Err(error) => {
                failed = true;
                eprintln!("{error}\n");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(EXIT_SCENARIO_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// The report files a `run` writes besides its terminal summary.
struct Reports {
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    html: Option<PathBuf>,
}

async fn run(
    target: &str,
    common: &Common,
    snapshots: PathBuf,
    update: bool,
    reports: &Reports,
) -> Result<ExitCode, ExitCode> {
    let files = common.load()?;
    let target = common.target(target)?;
    if update && common.repeat > 1 {
        eprintln!(
            "error: --update and --repeat do not go together: repeated runs write no snapshot"
        );
        return Err(ExitCode::from(EXIT_USAGE));
    }
    let options = SuiteOptions {
        snapshots: (common.repeat == 1).then(|| (snapshots, UpdateMode::from_env(update))),
        ..common.options()
    };
    let results = suite::run(&files, &target, &options).await;
    print!("{}", report::terminal(&results));
    if let Some(path) = &reports.junit {
        write_report(path, &report::junit(&results))?;
    }
    if let Some(path) = &reports.json {
        write_report(path, &format!("{:#}\n", report::json(&results)))?;
    }
    if let Some(dir) = &reports.html {
        write_html(dir, &report::html::run_page(target.name(), &results))?;
    }
    Ok(exit_code(results.iter().map(|r| &r.outcome)))
}

async fn record(args: RecordArgs) -> Result<ExitCode, ExitCode> {
    use sio_harness::record::{self, Recorder};
    // Checked now, not after a session that could then not be written.
    let folder = args.out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder.filter(|f| !f.is_dir()) {
        eprintln!("error: --out: no folder {}", folder.display());
        return Err(ExitCode::from(EXIT_USAGE));
    }
    let recorder = Recorder::start(args.listen, &args.upstream, &args.path)
        .await
        .map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        })?;
    // One line on stdout, so a script (or a test) can read the port of `--listen 127.0.0.1:0`.
    println!("recording on http://{}", recorder.addr());
    eprintln!(
        "connect clients to it; Ctrl-C to stop and write {}",
        args.out.display()
    );
    let stop = async {
        match args.duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = stop => {}
    }
    let name = args.name.clone().unwrap_or_else(|| {
        args.out.file_stem().map_or_else(
            || "recorded".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    });
    let written = recorder.finish(&args.out, &name).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_FAILED)
    })?;
    eprintln!(
        "wrote {}: {} clients, {} steps",
        args.out.display(),
        written.clients,
        written.steps
    );
    let missing: Vec<&String> = written
        .vars
        .iter()
        .filter(|v| !args.vars.iter().any(|(k, _)| k == *v))
        .collect();
    for var in &written.vars {
        eprintln!("the file names a secret: replay it with --var {var}=...");
    }
    if args.no_snapshot {
        return Ok(ExitCode::SUCCESS);
    }
    if !missing.is_empty() {
        eprintln!("no snapshot written: give the secrets above with --var");
        return Err(ExitCode::from(EXIT_USAGE));
    }
    let vars = args
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let replay = record::write_snapshot(
        &args.out,
        &args.upstream,
        args.jwt_secret.clone(),
        &args.snapshots,
        vars,
    );
    let result = tokio::select! {
        result = replay => result.map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_SCENARIO_ERROR)
        })?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: {} is written, its snapshot is not", args.out.display());
            return Err(ExitCode::from(EXIT_FAILED));
        }
    };
    print!("{}", report::terminal(std::slice::from_ref(&result)));
    Ok(exit_code(std::iter::once(&result.outcome)))
}

fn write_report(path: &PathBuf, text: &str) -> Result<(), ExitCode> {
    std::fs::write(path, text).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", path.display());
        ExitCode::from(EXIT_FAILED)
    })
}

fn write_html(dir: &Path, page: &str) -> Result<(), ExitCode> {
    match report::html::write(dir, page) {
        Ok(path) => {
            println!("HTML report: {}", path.display());
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "error: cannot write the HTML report in {}: {e}",
                dir.display()
            );
            Err(ExitCode::from(EXIT_FAILED))
        }
    }
}

fn exit_code<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> ExitCode {
    let outcomes: Vec<&Outcome> = outcomes.collect();
    if outcomes
        .iter()
        .any(|o| matches!(o, Outcome::TargetFailed(_)))
    {
        ExitCode::from(EXIT_TARGET_ERROR)
    } else if outcomes.iter().all(|o| o.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

async fn diff(
    targets: &[String],
    common: &Common,
    html: Option<&Path>,
) -> Result<ExitCode, ExitCode> {
    let [left, right] = targets else {
        eprintln!("error: diff takes exactly two --target");
        return Err(ExitCode::from(EXIT_USAGE));
    };
    let files = common.load()?;
    let (left, right) = (common.target(left)?, common.target(right)?);
    let options = common.options();
    let left_results = suite::run(&files, &left, &options).await;
    let right_results = suite::run(&files, &right, &options).await;
    let mut differing = 0;
    let mut broken = false;
    for (l, r) in left_results.iter().zip(&right_results) {
        let failed: Vec<_> = [l, r].into_iter().filter(|x| !x.outcome.passed()).collect();
        if !failed.is_empty() {
            broken = true;
            for result in failed {
                print!(
                    "{}",
                    report::terminal(std::slice::from_ref(result))
                        .lines()
                        .take_while(|l| !l.ends_with(" failed"))
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                );
            }
            continue;
        }
        if l.transcript == r.transcript {
            println!("   same  {} :: {}", l.file, l.scenario);
        } else {
            differing += 1;
            println!("DIFFERS  {} :: {}", l.file, l.scenario);
            for line in
                snapshot::diff(&l.transcript, &r.transcript, left.name(), right.name()).lines()
            {
                println!("         {line}");
            }
        }
    }
    println!("{} scenarios, {differing} differ", left_results.len());
    if let Some(dir) = html {
        let pairs: Vec<_> = left_results.iter().zip(&right_results).collect();
        write_html(
            dir,
            &report::html::diff_page(left.name(), right.name(), &pairs),
        )?;
    }
    Ok(if broken || differing > 0 {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn storm(
    load: &LoadArgs,
    rounds: usize,
    spread_ms: u64,
    cause: Cause,
) -> Result<ExitCode, ExitCode> {
    let (target, mut running) = load.start(load.clients).await?;
    let options = StormOptions {
        clients: load.clients,
        rounds,
        spread: std::time::Duration::from_millis(spread_ms),
        cause,
        deadline: std::time::Duration::from_secs(load.deadline_s),
        progress: load.progress(),
        workers: load.workers()?,
        network: load.network,
    };
    let result = storm::run(&mut running, target.name(), &options).await;
    running.shutdown().await;
    let report = result.map_err(load_error)?;
    load.print(&report, storm::table(&report));
    Ok(load_exit(report.rounds.iter().any(|r| r.not_back > 0)))
}

async fn churn(load: &LoadArgs, options: &ChurnOptions) -> Result<ExitCode, ExitCode> {
    if load.network.is_some() {
        eprintln!("error: --network shapes `storm` and `fanout`, not churn");
        return Err(ExitCode::from(EXIT_USAGE));
    }
    let (target, running) = load.start(churn::MAX_IN_FLIGHT).await?;
    let result = churn::run(&running, target.name(), options).await;
    running.shutdown().await;
    let report = result.map_err(load_error)?;
    load.print(&report, churn::table(&report));
    Ok(load_exit(!report.failures.is_empty()))
}

/// Checks that `connections` fit in the open-files budget, then starts (or resolves) `target`;
/// a launched one gets the load users `load-1` … `load-<users>`.
async fn start_with_load_users(
    target: &Target,
    connections: usize,
    users: usize,
) -> Result<RunningTarget, ExitCode> {
    sio_harness::load::descriptors::ensure(connections as u64).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    })?;
    let sql = sio_harness::load::users_sql(users);
    target
        .start_with_sql(matches!(target, Target::Launch { .. }).then_some(sql.as_str()))
        .await
        .map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_TARGET_ERROR)
        })
}

fn load_error(error: String) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_TARGET_ERROR)
}

fn load_exit(lost_anything: bool) -> ExitCode {
    if lost_anything {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Users a launched fuzz target gets (`load-1` … `load-N`).
const FUZZ_USERS: usize = 200;

async fn fuzz(target: &Target, options: &FuzzOptions, json: bool) -> Result<ExitCode, ExitCode> {
    // Cases in flight plus the control client, one descriptor each, and the usual margin.
    let mut running = start_with_load_users(target, options.concurrency + 16, FUZZ_USERS).await?;
    let result = fuzz::run(&mut running, target.name(), options).await;
    running.shutdown().await;
    let report = result.map_err(|e| load_error(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", fuzz::table(&report));
    }
    Ok(load_exit(!report.passed()))
}

/// A differential fuzz run's command line.
struct DifferentialArgs {
    targets: [String; 2],
    targets_file: PathBuf,
    jwt_secret: Option<String>,
    seed: u64,
    sequences: u64,
    per_launch: usize,
    known: Option<PathBuf>,
    save_dir: PathBuf,
    json: bool,
}

async fn differential(args: DifferentialArgs) -> Result<ExitCode, ExitCode> {
    let resolve = |name: &str| {
        Target::resolve(name, &args.targets_file, args.jwt_secret.clone()).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_TARGET_ERROR)
        })
    };
    let (left, right) = (resolve(&args.targets[0])?, resolve(&args.targets[1])?);
    let known = match &args.known {
        Some(path) => KnownDifferences::load(path).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        })?,
        None => KnownDifferences::default(),
    };
    let options = DifferentialOptions {
        seed: args.seed,
        sequences: args.sequences,
        per_launch: args.per_launch,
        save_dir: args.save_dir,
        known,
        settings: RunSettings::default(),
        shrink_tries: 150,
    };
    let report = differential::run([&left, &right], &options)
        .await
        .map_err(|e| load_error(e.to_string()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", differential::table(&report));
    }
    Ok(load_exit(!report.passed()))
}

async fn exhaust(load: &LoadArgs, options: &ExhaustOptions) -> Result<ExitCode, ExitCode> {
    // Phases run one after another, so the largest one sets the descriptor budget.
    let largest = options.phases.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let (target, mut running) = load.start(largest + 16).await?;
    let result = exhaust::run(&mut running, target.name(), options).await;
    running.shutdown().await;
    let report = result.map_err(load_error)?;
    load.print(&report, exhaust::table(&report));
    Ok(load_exit(!report.passed()))
}

async fn fanout(load: &LoadArgs, messages: usize, interval_ms: u64) -> Result<ExitCode, ExitCode> {
    let (target, mut running) = load.start(load.clients).await?;
    let options = FanoutOptions {
        clients: load.clients,
        messages,
        interval: std::time::Duration::from_millis(interval_ms),
        deadline: std::time::Duration::from_secs(load.deadline_s),
        workers: load.workers()?,
        network: load.network,
    };
    let result = fanout::run(&mut running, target.name(), &options).await;
    running.shutdown().await;
    let report = result.map_err(load_error)?;
    load.print(&report, fanout::table(&report));
    Ok(load_exit(report.lost > 0))
}
