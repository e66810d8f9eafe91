//! `record`: a proxy that turns live traffic into a scenario file; Ctrl-C (or `--duration`)
//! writes it, then one replay writes its snapshot.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sio_harness::record::{self, Recorder};
use sio_harness::report;

use super::{CliError, exit_code, parse_var};

#[derive(Args)]
pub struct RecordArgs {
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

pub async fn run(args: RecordArgs) -> Result<ExitCode, CliError> {
    // Checked now, not after a session that could then not be written.
    let folder = args.out.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder.filter(|f| !f.is_dir()) {
        return Err(CliError::Usage(format!(
            "--out: no folder {}",
            folder.display()
        )));
    }
    let recorder = Recorder::start(args.listen, &args.upstream, &args.path)
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
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
    let written = recorder
        .finish(&args.out, &name)
        .map_err(|e| CliError::Failed(e.to_string()))?;
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
        return Err(CliError::MissingSecrets);
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
        result = replay => result.map_err(|e| CliError::Scenarios(e.to_string()))?,
        _ = tokio::signal::ctrl_c() => {
            return Err(CliError::Interrupted(args.out.display().to_string()));
        }
    };
    print!("{}", report::terminal(std::slice::from_ref(&result)));
    Ok(exit_code(std::iter::once(&result.outcome)))
}
