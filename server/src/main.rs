//! `realtime-server` binary: parses the command line and runs one command.

use anyhow::{Context, Result, bail};
use clap::Parser;
use realtime_server::app::shutdown_signal;
use realtime_server::auth::JwtSecret;
use realtime_server::cli::{
    Cli, Command, DatabaseArgs, DbCommand, KumaArgs, NetworkArgs, ServeArgs, UserCommand,
};
use realtime_server::cluster::{AdapterKind, RedisUrl};
use realtime_server::kuma::KumaConfig;
use realtime_server::logging::{self, Secrets};
use realtime_server::store::{Store, StoreSettings};
use realtime_server::{Server, ServerConfig, demo, user_admin};

// mimalloc: a reconnect storm allocates and frees per-connection state across worker threads,
// where glibc's malloc spent a tenth of the server's CPU coalescing free chunks (perf); mimalloc
// cut CPU per reconnect by about a third. Transparent huge pages are off (`no_thp`): with them,
// partly used 2 MiB pages added about 2 KiB of RSS per idle connection. docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format, configured_secrets(&cli.command));
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
        Command::User { command } => {
            let store = open_existing(command.database(), command_creates(&command)).await?;
            let outcome = user_admin::run(&store, command).await;
            store.close().await;
            outcome
        }
        Command::Token(args) => {
            let secret = JwtSecret::new(&args.jwt_secret)?;
            let store = open_existing(&args.database, false).await?;
            let user = store.find_user(&args.user).await;
            store.close().await;
            match user.context("cannot read the user")? {
                Some(user) if user.is_active() => {}
                Some(user) => bail!(
                    "user {} is {}, not active: its tokens would be refused \
                     (`realtime-server user enable {}` makes it active)",
                    user.id,
                    user.status,
                    user.id
                ),
                None => bail!(
                    "no user {:?} in the database (`realtime-server user list` shows them)",
                    args.user
                ),
            }
            println!("{}", secret.mint(&args.user, args.ttl));
            Ok(())
        }
    }
}

/// The secrets the command was given, for the log's redaction (see [`logging`]).
fn configured_secrets(command: &Command) -> Secrets {
    let mut secrets = Secrets::default();
    match command {
        Command::Serve(args) => {
            for secret in [&args.jwt_secret, &args.network.metrics_token]
                .into_iter()
                .flatten()
            {
                secrets.add(secret);
            }
            secrets.add_url_password(&args.database.database_url);
            for url in [&args.redis_url, &args.kuma.kuma_url].into_iter().flatten() {
                secrets.add_url_password(url);
            }
        }
        Command::Demo(args) => {
            if let Some(url) = &args.kuma().kuma_url {
                secrets.add_url_password(url);
            }
            if let Some(token) = &args.network.metrics_token {
                secrets.add(token);
            }
        }
        Command::Db {
            command: DbCommand::Seed { database, .. },
        } => secrets.add_url_password(&database.database_url),
        Command::User { command } => secrets.add_url_password(&command.database().database_url),
        Command::Token(args) => {
            secrets.add(&args.jwt_secret);
            secrets.add_url_password(&args.database.database_url);
        }
    }
    secrets
}

/// Only `user add` may create a database: the other commands read users, and on a SQLite file
/// that does not exist they would make an empty one and then find nobody.
fn command_creates(command: &UserCommand) -> bool {
    matches!(command, UserCommand::Add { .. })
}

/// Opens the database (applying migrations), refusing a missing SQLite file unless `create`.
async fn open_existing(database: &DatabaseArgs, create: bool) -> Result<Store> {
    if !create && let Some(path) = missing_sqlite_file(&database.database_url) {
        bail!(
            "no database at {}: set DATABASE_URL (or --database-url) to the server's database",
            path.display()
        );
    }
    Store::open_with(&database.database_url, &database.settings())
        .await
        .context("cannot open the database")
}

/// The file a `sqlite://` URL names, when it does not exist.
fn missing_sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let path = std::path::PathBuf::from(path);
    (!path.exists()).then_some(path)
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
        redis_adapter: args.redis_adapter,
        trusted_proxies: args.network.trusted_proxies.clone(),
        metrics_token: args.network.metrics_token(),
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
        redis_adapter: AdapterKind::default(),
        trusted_proxies: network.trusted_proxies.clone(),
        metrics_token: network.metrics_token(),
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
