//! Figures: latency percentiles, a process's CPU time and memory, and the kernel's TCP counters.

use std::time::Duration;

use serde::Serialize;

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place).
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
        };
        Self {
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: at(100.0),
        }
    }
}

/// The values at 0 %, 1 %, … 100 % of `samples` (nearest rank, in ms), for charts; empty when
/// there are none.
pub fn quantiles_ms(samples: &mut [Duration]) -> Vec<f64> {
    if samples.is_empty() {
        return Vec::new();
    }
    samples.sort_unstable();
    (0..=100)
        .map(|percent| {
            let rank = (percent as f64 / 100.0 * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
        })
        .collect()
}

/// A process's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcessSample {
    /// User plus system CPU time.
    pub cpu: Duration,
    pub rss_kib: u64,
    /// Peak resident set since the process started.
    pub peak_rss_kib: u64,
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Reads `/proc/<pid>`; `None` without a pid (a server the harness did not launch) or if the
/// process is gone.
pub fn sample(pid: Option<u32>) -> Option<ProcessSample> {
    read_proc(&format!("/proc/{}", pid?))
}

/// The counters of several processes added up (a cluster's nodes); `None` unless every one
/// can be read.
pub fn sample_all(pids: &[u32]) -> Option<ProcessSample> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .try_fold(ProcessSample::default(), |total, pid| {
            let one = sample(Some(*pid))?;
            Some(ProcessSample {
                cpu: total.cpu + one.cpu,
                rss_kib: total.rss_kib + one.rss_kib,
                peak_rss_kib: total.peak_rss_kib + one.peak_rss_kib,
            })
        })
}

/// How many files (sockets included) process `pid` has open; `None` if it cannot be read.
pub fn open_files(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// How many threads process `pid` runs; `None` if it cannot be read.
pub fn threads(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// This process's own counters (the load generator's).
pub fn sample_self() -> Option<ProcessSample> {
    read_proc("/proc/self")
}

fn read_proc(dir: &str) -> Option<ProcessSample> {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcessSample {
        cpu: Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64),
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    })
}

/// Kernel TCP counters that decide a storm's tail on loopback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetCounters {
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub syn_retransmits: u64,
}

impl NetCounters {
    pub fn read() -> Self {
        let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
        let value = |name: &str| counter(&netstat, "TcpExt:", name).unwrap_or(0);
        Self {
            listen_overflows: value("ListenOverflows"),
            listen_drops: value("ListenDrops"),
            syn_retransmits: value("TCPSynRetrans"),
        }
    }

    pub fn since(self, before: Self) -> Self {
        Self {
            listen_overflows: self
                .listen_overflows
                .saturating_sub(before.listen_overflows),
            listen_drops: self.listen_drops.saturating_sub(before.listen_drops),
            syn_retransmits: self.syn_retransmits.saturating_sub(before.syn_retransmits),
        }
    }
}

/// `/proc/net/netstat` pairs a header line of names with a line of values.
fn counter(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let index = names.split_whitespace().position(|n| n == name);
        if let Some(index) = index {
            return values.split_whitespace().nth(index)?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn reads_this_process_and_the_kernel() {
        let me = sample_self().expect("/proc/self");
        assert_eq!(sample(None), None);
        assert!(me.rss_kib > 0 && me.peak_rss_kib >= me.rss_kib);
        let text = "TcpExt: A ListenOverflows B\nTcpExt: 1 7 3\nIpExt: X\nIpExt: 9\n";
        assert_eq!(counter(text, "TcpExt:", "ListenOverflows"), Some(7));
        assert_eq!(counter(text, "TcpExt:", "Missing"), None);
    }
}
