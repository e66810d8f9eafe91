//! The command line: `serve`, `demo`, `db seed`, `user ...` and `token`. Every flag is also an
//! environment variable, so the same binary runs under a process manager or by hand.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::{DEFAULT_CONNECT_TIMEOUT, Heartbeat};
use crate::client_addr::TrustedProxies;
use crate::cluster::AdapterKind;
use crate::kuma::{KumaConfig, KumaConfigError};
use crate::metrics::MetricsToken;
use crate::rate_limit::RateQuota;
use crate::store::{Role, StoreSettings};

#[derive(Debug, Parser)]
#[command(
    name = "realtime-server",
    version,
    about = "Socket.IO reference server"
)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Socket.IO and the HTTP API.
    Serve(ServeArgs),
    /// Serve a throwaway database with demo users and a generated secret; prints tokens.
    Demo(DemoArgs),
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Manage users: add, list, disable, enable, change a role.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a signed token for an active user.
    Token(TokenArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an active user.
    Add {
        /// The user's id, the `userId` its tokens carry (at most 64 characters, no spaces).
        id: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum, default_value_t = RoleArg::User)]
        role: RoleArg,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List every user: id, email, role, status.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Suspend a user: its handshakes and requests are refused from now on (`User not found or
    /// inactive`); sockets already connected stay until they reconnect.
    Disable {
        id: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Make a suspended user active again.
    Enable {
        id: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Change a user's role.
    Role {
        id: String,
        #[arg(value_enum)]
        role: RoleArg,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

impl UserCommand {
    pub fn database(&self) -> &DatabaseArgs {
        match self {
            UserCommand::Add { database, .. }
            | UserCommand::List { database }
            | UserCommand::Disable { database, .. }
            | UserCommand::Enable { database, .. }
            | UserCommand::Role { database, .. } => database,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Admin,
    User,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::User => Role::User,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the migrations, then run a SQL file (fixtures) in one transaction.
    Seed {
        file: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://FILE` (created if missing) or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://realtime.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Most connections to the database.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = StoreSettings::default().pool_size)]
    pub database_pool_size: u32,
    /// How long a query waits for a database connection before it fails, in milliseconds.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT_MS", default_value_t = millis(StoreSettings::default().connect_timeout))]
    pub database_connect_timeout_ms: u64,
    /// Longest a statement may run before PostgreSQL cancels it, in milliseconds.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT_MS", default_value_t = millis(StoreSettings::default().statement_timeout))]
    pub database_statement_timeout_ms: u64,
}

impl DatabaseArgs {
    pub fn settings(&self) -> StoreSettings {
        StoreSettings {
            pool_size: self.database_pool_size.max(1),
            connect_timeout: Duration::from_millis(self.database_connect_timeout_ms.max(1)),
            statement_timeout: Duration::from_millis(self.database_statement_timeout_ms.max(1)),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// 0 picks a free port; the log says which.
    #[arg(long, env = "PORT", default_value_t = 4000)]
    pub port: u16,
    /// Origin allowed by CORS, with credentials.
    #[arg(long, env = "FRONTEND_URL", default_value = "http://localhost:3000")]
    pub frontend_url: String,
    /// Events each user may send per event name and window.
    #[arg(long, env = "RATE_LIMIT_EVENTS", default_value_t = NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN))]
    pub rate_limit_events: NonZeroU32,
    /// The rate limit window, in milliseconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW_MS", default_value_t = 10_000)]
    pub rate_limit_window_ms: u64,
    /// Engine.IO ping interval, in milliseconds.
    #[arg(long, env = "PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval_ms: u64,
    /// How long a client may take to answer a ping, in milliseconds.
    #[arg(long, env = "PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout_ms: u64,
    /// How long a client may take from the Engine.IO handshake to its Socket.IO connect, in
    /// milliseconds; an abandoned handshake is dropped after it.
    #[arg(long, env = "CONNECT_TIMEOUT_MS", default_value_t = DEFAULT_CONNECT_TIMEOUT.as_millis() as u64)]
    pub connect_timeout_ms: u64,
    /// Reverse proxies (addresses or networks, comma-separated: `127.0.0.1,10.0.0.0/8`) whose
    /// `X-Forwarded-For` names the client in the logs. Unset: the peer's address, always.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Bearer token a Prometheus scrape of /metrics must send (`Authorization: Bearer TOKEN`).
    /// Unset: /metrics is open to whoever reaches the port (the log says so at start).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl NetworkArgs {
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            interval: Duration::from_millis(self.ping_interval_ms.max(1)),
            timeout: Duration::from_millis(self.ping_timeout_ms.max(1)),
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms.max(1))
    }

    /// The token `/metrics` requires; an empty one counts as unset.
    pub fn metrics_token(&self) -> Option<MetricsToken> {
        self.metrics_token.as_deref().and_then(MetricsToken::new)
    }

    pub fn rate_quota(&self) -> RateQuota {
        RateQuota {
            events: self.rate_limit_events,
            window: Duration::from_millis(self.rate_limit_window_ms.max(1)),
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    /// HS256 secret, at least 32 bytes. Required unless --demo.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Share rooms and broadcasts with the other processes on this Redis,
    /// `redis://[:password@]host:port[/db]`. Unset: one process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// The protocol spoken on Redis: `socketioxide` (Rust nodes only), or `socket.io`
    /// (@socket.io/redis-adapter 8.x's: Rust and Node nodes in one cluster). All nodes must agree.
    #[arg(long, env = "REDIS_ADAPTER", value_enum, default_value_t = AdapterKind::Socketioxide)]
    pub redis_adapter: AdapterKind,
    /// Same as the `demo` command.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub kuma: KumaArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub kuma: KumaArgs,
    /// Show a Kuma status page's monitors: short for --kuma-url URL --kuma-status-page SLUG.
    #[arg(long = "kuma", num_args = 2, value_names = ["URL", "SLUG"],
          conflicts_with_all = ["kuma_url", "kuma_status_page"])]
    pub kuma_page: Option<Vec<String>>,
}

impl DemoArgs {
    /// The Kuma settings, with `--kuma URL SLUG` folded in.
    pub fn kuma(&self) -> KumaArgs {
        let mut kuma = self.kuma.clone();
        if let Some([url, slug]) = self.kuma_page.as_deref() {
            kuma.kuma_url = Some(url.clone());
            kuma.kuma_status_page = Some(slug.clone());
        }
        kuma
    }
}

/// The Uptime Kuma feed: off unless both the URL and the status page are set.
#[derive(Clone, Args)]
pub struct KumaArgs {
    /// Uptime Kuma's base URL (http:// or https://); with --kuma-status-page, statuses follow
    /// its monitors.
    #[arg(long, env = "KUMA_URL", hide_env_values = true)]
    pub kuma_url: Option<String>,
    /// Slug of the Kuma status page whose monitors become services.
    #[arg(long, env = "KUMA_STATUS_PAGE")]
    pub kuma_status_page: Option<String>,
    /// Time between polls of Kuma, in milliseconds.
    #[arg(long, env = "KUMA_POLL_MS", default_value_t = 30_000)]
    pub kuma_poll_ms: u64,
    /// A monitor with no beat for this long becomes `unknown`, in milliseconds.
    #[arg(long, env = "KUMA_STALE_MS", default_value_t = 600_000)]
    pub kuma_stale_ms: u64,
    /// Limit for one request to Kuma, body included, in milliseconds.
    #[arg(long, env = "KUMA_TIMEOUT_MS", default_value_t = 10_000)]
    pub kuma_timeout_ms: u64,
    /// With several processes on one database, how long the polling node's lease lasts
    /// unrenewed (a crashed poller is replaced after this), in milliseconds.
    #[arg(long, env = "KUMA_LEASE_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub kuma_lease_ms: u64,
    /// PEM file of the CA that issued an https:// Kuma's certificate (a private CA), trusted
    /// besides the system's roots.
    #[arg(long, env = "KUMA_CA_FILE")]
    pub kuma_ca_file: Option<PathBuf>,
}

impl KumaArgs {
    /// The feed's configuration, `None` when the feed is off.
    pub fn feed_config(&self) -> Result<Option<KumaConfig>, KumaConfigError> {
        let config = KumaConfig::from_settings(
            self.kuma_url.as_deref(),
            self.kuma_status_page.as_deref(),
            self.kuma_poll_ms,
            self.kuma_stale_ms,
            self.kuma_timeout_ms,
        )?;
        let Some(config) = config else {
            return match self.kuma_ca_file {
                Some(_) => Err(KumaConfigError::MissingUrl),
                None => Ok(None),
            };
        };
        let config = KumaConfig {
            lease_ttl: Duration::from_millis(self.kuma_lease_ms),
            ..config
        };
        config.with_ca_file(self.kuma_ca_file.clone()).map(Some)
    }
}

impl std::fmt::Debug for KumaArgs {
    /// Without the URL, which may hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KumaArgs")
            .field("kuma_url", &self.kuma_url.as_ref().map(|_| "<set>"))
            .field("kuma_status_page", &self.kuma_status_page)
            .field("kuma_poll_ms", &self.kuma_poll_ms)
            .field("kuma_stale_ms", &self.kuma_stale_ms)
            .field("kuma_timeout_ms", &self.kuma_timeout_ms)
            .field("kuma_lease_ms", &self.kuma_lease_ms)
            .field("kuma_ca_file", &self.kuma_ca_file)
            .finish()
    }
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user the token signs in as; it must exist and be active in the database.
    #[arg(long)]
    pub user: String,
    /// Lifetime such as 90s, 30m, 1h or 7d (above zero).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Parses `90s`, `30m`, `1h`, `7d` (a bare number is seconds); zero is refused: such a token
/// would be expired when made.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl.is_zero() {
        return Err(format!(
            "{:?} is no lifetime: a token must live above zero seconds",
            text.trim()
        ));
    }
    Ok(ttl)
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m or 1h"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("-1h").is_err());
        for zero in ["0", "0s", "0h", "00m"] {
            let refused = parse_ttl(zero).expect_err(zero);
            assert!(refused.contains("above zero"), "{refused}");
        }
    }

    #[test]
    fn every_flag_has_an_environment_twin() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "realtime-server",
            "serve",
            "--port",
            "0",
            "--jwt-secret",
            "x",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.network.port, 0);
        assert_eq!(args.network.rate_quota(), RateQuota::default());
        assert_eq!(args.database.settings(), StoreSettings::default());
        assert_eq!(args.kuma.feed_config(), Ok(None), "no feed unless asked");
    }

    #[test]
    fn demo_takes_a_kuma_page_in_one_flag() {
        let cli = Cli::try_parse_from([
            "realtime-server",
            "demo",
            "--kuma",
            "http://kuma.lan:3001",
            "home",
        ])
        .expect("parses");
        let Command::Demo(args) = cli.command else {
            panic!("demo expected")
        };
        let config = args.kuma().feed_config().expect("valid").expect("on");
        assert_eq!(
            (config.display_url(), config.status_page),
            ("http://kuma.lan:3001/".to_owned(), "home".to_owned())
        );
        assert!(
            Cli::try_parse_from(["realtime-server", "demo", "--kuma", "http://kuma.lan:3001"])
                .is_err(),
            "the slug is required"
        );
    }
}
