//! The command line: `serve`, `demo`, `db seed` and `token`. Every flag is also an environment
//! variable, so the same binary runs under a process manager or by hand.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::Heartbeat;
use crate::rate_limit::RateQuota;
use crate::store::StoreSettings;

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
    Demo(NetworkArgs),
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Print a signed token for a user.
    Token(TokenArgs),
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
}

impl NetworkArgs {
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            interval: Duration::from_millis(self.ping_interval_ms.max(1)),
            timeout: Duration::from_millis(self.ping_timeout_ms.max(1)),
        }
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
    /// Same as the `demo` command.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[arg(long)]
    pub user: String,
    /// Lifetime such as 90s, 30m, 1h or 7d.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
}

/// Parses `90s`, `30m`, `1h`, `7d` (a bare number is seconds).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
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
    }
}
