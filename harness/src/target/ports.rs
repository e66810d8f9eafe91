//! Ports and logs of launched processes. A port is one found free by binding it, picked below
//! the kernel's ephemeral range ([`picked_from`]), and then *reserved* in this process until the
//! launch that asked for it is gone, so two
//! launches running side by side (`--jobs`) never get the same port, even while the first one's
//! server has not bound it yet. Whether the process that answers on a port is the launch's own
//! is told by [`listener_pids`], from `/proc` (the pids holding a listening socket on the port).
//! Each launched process writes its output to its own log file, kept after the run
//! ([`log_file`]), so a failure and the HTML report can name it.

use std::collections::{BTreeSet, HashSet};
use std::net::TcpListener;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Ports handed out and still held by a running launch.
static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free loopback port, held for this process until dropped.
#[derive(Debug)]
pub(super) struct PortReservation(u16);

impl PortReservation {
    /// A free port not already reserved here: a random one below the ephemeral range that binds,
    /// else (a range too small, or every try taken) one the kernel gives for port 0.
    pub fn new() -> std::io::Result<Self> {
        let range = picked_from();
        if range.len() >= 1000 {
            for _ in 0..200 {
                let port = rand::random_range(range.clone());
                if is_free(port) && reserved().insert(port) {
                    return Ok(Self(port));
                }
            }
        }
        loop {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            if reserved().insert(port) {
                return Ok(Self(port));
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.0
    }
}

impl Drop for PortReservation {
    fn drop(&mut self) {
        reserved().remove(&self.0);
    }
}

/// Where ports are picked: from 10000 up to the start of the kernel's ephemeral range
/// (`ip_local_port_range`, 32768 by default). A port from that range, which `bind` to port 0
/// would give, is also what every outgoing connection takes: a node stopped by `server: stop`
/// releases its port, and before `server: start` binds it again, another process's outgoing
/// connection (each node's database probe opens one a second) may take it (seen as a restarted
/// node's `EADDRINUSE`). Below the range no outgoing connection can.
fn picked_from() -> Range<u16> {
    const LOWEST: u16 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    LOWEST..ephemeral_start.max(LOWEST)
}

fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn reserved() -> std::sync::MutexGuard<'static, BTreeSet<u16>> {
    // The set stays consistent even if a holder panicked: insert and remove are single steps.
    RESERVED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A free loopback port that no running launch holds (released: for a test's own listener).
pub fn free_port() -> std::io::Result<u16> {
    PortReservation::new().map(|reservation| reservation.port())
}

/// The directory launch logs go to: `SIO_HARNESS_LOGS`, else `sio-harness-logs` in the
/// temporary directory.
fn log_dir() -> PathBuf {
    std::env::var_os("SIO_HARNESS_LOGS").map_or_else(
        || std::env::temp_dir().join("sio-harness-logs"),
        PathBuf::from,
    )
}

/// A new log file's path for a process labelled `label` (a target, `redis-server`, ...), unique
/// to this launch: `<dir>/<label>-<harness pid>-<sequence>.log`. Its directory is created.
pub(super) fn log_file(label: &str) -> std::io::Result<PathBuf> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = log_dir();
    std::fs::create_dir_all(&dir)?;
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!("{label}-{}-{sequence}.log", std::process::id())))
}

/// The pids holding a listening TCP socket on `port` (any local address), from `/proc`; empty
/// when none is found or `/proc` cannot be read (not Linux).
pub(super) fn listener_pids(port: u16) -> HashSet<u32> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return HashSet::new();
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    let mut pids = HashSet::new();
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        // Another user's processes cannot be read; they are not ours either.
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| {
                link.to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
                    .is_some_and(|inode| inodes.contains(inode))
            })
        });
        if holds {
            pids.insert(pid);
        }
    }
    pids
}

/// The inodes of listening sockets on `port` in `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_inodes(port: u16) -> HashSet<String> {
    const LISTEN: &str = "0A";
    let port_hex = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
                    (local.ends_with(&port_hex) && *state == LISTEN).then(|| (*inode).to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `pid` and its descendants (a launch's command may be a wrapper that starts the server).
pub(super) fn process_tree(pid: u32) -> HashSet<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(processes) = std::fs::read_dir("/proc") {
        for process in processes.flatten() {
            let Some(child) = process.file_name().to_str().and_then(|p| p.parse().ok()) else {
                continue;
            };
            // `stat`: pid (comm) state ppid ...; comm may hold spaces and parentheses.
            let Ok(stat) = std::fs::read_to_string(process.path().join("stat")) else {
                continue;
            };
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok());
            if let Some(parent) = parent {
                parents.push((child, parent));
            }
        }
    }
    let mut tree = HashSet::from([pid]);
    loop {
        let before = tree.len();
        for (child, parent) in &parents {
            if tree.contains(parent) {
                tree.insert(*child);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_never_handed_out_twice() {
        let held: Vec<PortReservation> = (0..200)
            .map(|_| PortReservation::new().expect("a port"))
            .collect();
        let distinct: HashSet<u16> = held.iter().map(PortReservation::port).collect();
        assert_eq!(distinct.len(), held.len());
        let first = held[0].port();
        assert!(reserved().contains(&first));
    }

    #[test]
    fn ports_are_picked_where_no_outgoing_connection_can_take_them() {
        let range = picked_from();
        assert!(
            range.len() >= 1000,
            "ephemeral range starts too low here: {range:?}"
        );
        for _ in 0..50 {
            let port = PortReservation::new().expect("a port").port();
            assert!(range.contains(&port), "{port} is not in {range:?}");
        }
    }

    #[test]
    fn the_listener_on_a_port_is_found_by_pid() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let pids = listener_pids(port);
        assert!(pids.contains(&std::process::id()), "{pids:?}");
        drop(listener);
        assert!(!listener_pids(port).contains(&std::process::id()));
    }
}
