//! A cluster's own PostgreSQL (`cluster.postgres`): a throwaway database server per launch, so
//! a scenario can stop and start it (`database` steps) without touching anyone else's. The
//! facts are scripts/pg.sh's: initdb in a temporary directory with trust authentication,
//! `postgres` on a free loopback port with its socket in that directory, no fsync; initdb and
//! postgres refuse to run as root, so as root both run as the system user `pgtest` (created if
//! missing), who owns the directory.
//!
//! The harness runs `postgres` itself (not `pg_ctl`), so its pid is the postmaster's: a stop is
//! SIGINT, PostgreSQL's fast shutdown (open connections are cut, new ones refused at once), and
//! a start runs it again on the same port and data.
//!
//! initdb takes seconds, and what it writes depends only on the version, its options and the
//! owner: it runs once, into a template kept beside the harness executable (a build artifact,
//! as the servers there are; `cargo clean` removes it), which each launch copies.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::TargetError;
use super::placeholders::bin_dir;
use super::ports::{self, PortReservation};
use super::ready::Probe;
use super::service::Service;
use super::spec::PostgresSpec;

/// Where Debian installs each PostgreSQL version: `/usr/lib/postgresql/VERSION/bin`.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";
/// The user initdb and postgres run as when the harness runs as root.
const OWNER: &str = "pgtest";

/// The running (or stopped) server, and the directory that holds its data, removed when the
/// launch ends.
pub(super) struct Postgres {
    pub server: Service,
    _dir: tempfile::TempDir,
}

/// Creates a cluster, starts it on a free port and adds `{postgres_url}` to `shared`.
pub(super) async fn launch(
    spec: &PostgresSpec,
    shared: &mut Vec<(String, String)>,
) -> Result<Postgres, TargetError> {
    let bin = match &spec.bin_dir {
        Some(dir) => PathBuf::from(dir),
        None => newest_bin_dir()?,
    };
    let owner = owner().await?;
    let dir = tempfile::Builder::new().prefix("sio-pg-").tempdir()?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
    }
    let data = dir.path().join("data");
    let template = template(&bin, owner).await?;
    run("cp", Command::new("cp").arg("-a").arg(&template).arg(&data)).await?;
    let reservation = PortReservation::new()?;
    let port = reservation.port();
    let argv = vec![
        bin.join("postgres").display().to_string(),
        "-D".into(),
        data.display().to_string(),
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-c".into(),
        format!("port={port}"),
        "-c".into(),
        format!("unix_socket_directories={}", dir.path().display()),
        "-c".into(),
        "fsync=off".into(),
        "-c".into(),
        "max_connections=300".into(),
    ];
    let mut server = Service::new(
        "postgres",
        argv,
        Vec::new(),
        dir.path().to_path_buf(),
        reservation,
        ports::log_file("postgres")?,
        Probe::Postgres,
    )
    .with_stop_signal(libc::SIGINT)
    .run_as(owner);
    server.spawn().await?;
    shared.push((
        "{postgres_url}".to_owned(),
        format!("postgres://postgres@127.0.0.1:{port}"),
    ));
    Ok(Postgres { server, _dir: dir })
}

/// The newest version's binaries in Debian's layout.
fn newest_bin_dir() -> Result<PathBuf, TargetError> {
    let not_installed = || TargetError::Launch {
        name: "postgres".into(),
        detail: format!(
            "no PostgreSQL in {DEBIAN_VERSIONS}/*/bin; install it (scripts/setup.sh postgresql) \
             or give `cluster.postgres.bin_dir`"
        ),
    };
    let versions = std::fs::read_dir(DEBIAN_VERSIONS).map_err(|_| not_installed())?;
    versions
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
        .ok_or_else(not_installed)
}

/// The (uid, gid) to run as: `None` unless the harness runs as root, then `pgtest`'s, the user
/// created first if missing.
async fn owner() -> Result<Option<(u32, u32)>, TargetError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    if id(&["-u", OWNER]).await.is_err() {
        run(
            "useradd",
            Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                OWNER,
            ]),
        )
        .await?;
    }
    Ok(Some((id(&["-u", OWNER]).await?, id(&["-g", OWNER]).await?)))
}

/// A number `id` prints.
async fn id(args: &[&str]) -> Result<u32, TargetError> {
    let output = run("id", Command::new("id").args(args)).await?;
    output.trim().parse().map_err(|_| TargetError::Launch {
        name: "postgres".into(),
        detail: format!("`id {}` printed {output:?}", args.join(" ")),
    })
}

/// The template cluster for these binaries and this owner, made first if missing: initdb in a
/// scratch directory, copied beside the harness executable under a name of its own, then
/// renamed into place, so a template is whole or absent, also when two launches make it at once.
async fn template(bin: &Path, owner: Option<(u32, u32)>) -> Result<PathBuf, TargetError> {
    let binaries: String = bin
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let uid = owner.map_or_else(
        // SAFETY: geteuid has no preconditions and cannot fail.
        || unsafe { libc::geteuid() },
        |(uid, _)| uid,
    );
    let template = bin_dir().join(format!("postgres-template{binaries}-{uid}"));
    if template.join("PG_VERSION").is_file() {
        return Ok(template);
    }
    let scratch = tempfile::Builder::new()
        .prefix("sio-pg-initdb-")
        .tempdir()?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(scratch.path(), Some(uid), Some(gid))?;
    }
    let data = scratch.path().join("data");
    initdb(bin, &data, scratch.path(), owner).await?;
    let staging = bin_dir().join(format!(
        ".postgres-template-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    run("cp", Command::new("cp").arg("-a").arg(&data).arg(&staging)).await?;
    if let Err(error) = std::fs::rename(&staging, &template) {
        // Another launch put its template there first: use that one.
        let _ = std::fs::remove_dir_all(&staging);
        if !template.join("PG_VERSION").is_file() {
            return Err(error.into());
        }
    }
    Ok(template)
}

/// Creates a cluster in `data`.
async fn initdb(
    bin: &Path,
    data: &Path,
    dir: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), TargetError> {
    let mut command = Command::new(bin.join("initdb"));
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
        .arg(format!("--pgdata={}", data.display()))
        .args([
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ])
        .current_dir(dir);
    run("initdb", &mut command).await.map(drop)
}

/// Runs a helper command to its end; its stdout, or an error with its stderr.
async fn run(name: &str, command: &mut Command) -> Result<String, TargetError> {
    let output = command.output().await.map_err(|e| TargetError::Launch {
        name: "postgres".into(),
        detail: format!("{name}: {e}"),
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(TargetError::Launch {
            name: "postgres".into(),
            detail: format!(
                "{name} exited with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}
