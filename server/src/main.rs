//! `realtime-server` binary: parses the command line and runs one command.

use anyhow::{Context, Result, bail};
use clap::Parser;
use realtime_server::app::shutdown_signal;
use realtime_server::auth::JwtSecret;
use realtime_server::cli::{Cli, Command, DbCommand, KumaArgs, LogFormat, NetworkArgs, ServeArgs};
use realtime_server::cluster::RedisUrl;
use realtime_server::kuma::KumaConfig;
use realtime_server::store::{Store, StoreSettings};
use realtime_server::{Server, ServerConfig, demo};
use std::io::IsTerminal as _;
use tracing_subscriber::EnvFilter;

// mimalloc: a reconnect storm allocates and frees per-connection state across worker threads,
// where glibc's malloc spent a tenth of the server's CPU coalescing free chunks (perf); mimalloc
// cut CPU per reconnect by about a third. Transparent huge pages are off (`no_thp`): with them,
// partly used 2 MiB pages added about 2 KiB of RSS per idle connection. docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) if args.demo => run_demo(args.network, args.kuma).await,
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => {
            let kuma = args.kuma();
            run_demo(args.network, kuma).await
        }
        Command::Db {
            command: DbCommand::Seed { file, database },
        } => {
            let sql = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let store = Store::open_with(&database.database_url, &database.settings())
                .await
                .context("cannot open the database")?;
            store
                .run_script(&sql)
                .await
                .with_context(|| format!("{} failed; nothing was applied", file.display()))?;
            store.close().await;
            // Not the URL itself: it may carry a password.
            println!("seeded the database from {}", file.display());
            Ok(())
        }
        Command::Token(args) => {
            let secret = JwtSecret::new(&args.jwt_secret)?;
            println!("{}", secret.mint(&args.user, args.ttl));
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: never into a file or a pipe, never with NO_COLOR
    // set to anything but the empty string (no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let Some(secret) = args.jwt_secret.as_deref() else {
        bail!(
            "JWT_SECRET (or --jwt-secret) is required; use `realtime-server demo` to try it without one"
        );
    };
    let kuma = args.kuma.feed_config()?;
    let config = ServerConfig {
        host: args.network.host,
        port: args.network.port,
        secret: JwtSecret::new(secret)?,
        frontend_url: args.network.frontend_url.clone(),
        database_url: args.database.database_url.clone(),
        store: args.database.settings(),
        rate_quota: args.network.rate_quota(),
        heartbeat: args.network.heartbeat(),
        connect_timeout: args.network.connect_timeout(),
        redis_url: args.redis_url.clone().map(RedisUrl::new),
    };
    let server = with_kuma_feed(Server::bind(config).await?, kuma)?;
    let addr = server.local_addr()?;
    tracing::info!(%addr, "listening on http://{addr}");
    server.run(shutdown_signal()).await?;
    Ok(())
}

async fn run_demo(network: NetworkArgs, kuma: KumaArgs) -> Result<()> {
    let kuma = kuma.feed_config()?;
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let database_url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let secret = JwtSecret::generate();
    let config = ServerConfig {
        host: network.host,
        port: network.port,
        secret: secret.clone(),
        frontend_url: network.frontend_url.clone(),
        database_url,
        store: StoreSettings::default(),
        rate_quota: network.rate_quota(),
        heartbeat: network.heartbeat(),
        connect_timeout: network.connect_timeout(),
        redis_url: None,
    };
    let server = Server::bind(config).await?;
    let addr = server.local_addr()?;
    let guide = demo::prepare(server.store(), &secret, &format!("http://{addr}")).await?;
    println!("{guide}");
    let server = with_kuma_feed(server, kuma)?;
    tracing::info!(%addr, "listening on http://{addr} (demo)");
    server.run(shutdown_signal()).await?;
    Ok(())
}

fn with_kuma_feed(server: Server, kuma: Option<KumaConfig>) -> Result<Server> {
    Ok(match kuma {
        Some(config) => server.with_kuma_feed(config)?,
        None => server,
    })
}
