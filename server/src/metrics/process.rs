//! The process's own figures under the names every Prometheus client library uses
//! (`process_resident_memory_bytes`, ...), read from `/proc/self` at scrape time. prometheus-client
//! has no process collector; Node's prom-client writes the same names, so one dashboard fits
//! both servers. Off Linux (no `/proc`) nothing is written.

use prometheus_client::encoding::DescriptorEncoder;

use super::{counter, gauge};

/// Clock ticks per second in `/proc/*/stat`: the kernel reports in USER_HZ, which is 100 on
/// every Linux architecture (it is part of the ABI, whatever the kernel's internal HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self` tells of this process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessFigures {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub start_time_seconds: f64,
    pub open_fds: f64,
    pub max_fds: Option<f64>,
}

/// Reads the figures; `None` off Linux or if `/proc` says something unexpected.
pub fn read() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    parse(&stat, &status, &boot, &limits, open_fds)
}

/// The figures from the files' text (split out so that it is tested on fixed input).
fn parse(
    stat: &str,
    status: &str,
    boot: &str,
    limits: &str,
    open_fds: f64,
) -> Option<ProcessFigures> {
    // The command name, in parentheses, may hold spaces: fields are counted after its end.
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3 (state); utime is field 14, stime 15, starttime 22,
    // vsize 23 (proc(5)).
    let field = |number: usize| fields.get(number - 3)?.parse::<f64>().ok();
    let cpu_ticks = field(14)? + field(15)?;
    let start_ticks = field(22)?;
    let virtual_bytes = field(23)?;
    let resident_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()?;
    let boot_time = boot
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let max_fds = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse::<f64>().ok());
    Some(ProcessFigures {
        cpu_seconds: cpu_ticks / TICKS_PER_SECOND,
        resident_bytes: resident_kib * 1024.0,
        virtual_bytes,
        start_time_seconds: boot_time + start_ticks / TICKS_PER_SECOND,
        open_fds,
        max_fds,
    })
}

/// Writes the process's figures, if they can be read.
pub fn encode(encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let Some(figures) = read() else {
        return Ok(());
    };
    counter(
        encoder,
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        figures.cpu_seconds,
    )?;
    gauge(
        encoder,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        figures.resident_bytes,
    )?;
    gauge(
        encoder,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        figures.virtual_bytes,
    )?;
    gauge(
        encoder,
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        figures.start_time_seconds,
    )?;
    gauge(
        encoder,
        "process_open_fds",
        "Number of open file descriptors.",
        figures.open_fds,
    )?;
    if let Some(max_fds) = figures.max_fds {
        gauge(
            encoder,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max_fds,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_files_with_a_spaced_command_name() {
        let stat = "4242 (realtime server) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 50 0 0 20 0 \
                    12 0 123400 987654321 2048 18446744073709551615";
        let status = "Name:\trealtime-server\nVmPeak:\t  99999 kB\nVmRSS:\t   20480 kB\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let figures = parse(stat, status, boot, limits, 17.0).expect("parses");
        assert_eq!(
            figures,
            ProcessFigures {
                cpu_seconds: 3.0,
                resident_bytes: 20_971_520.0,
                virtual_bytes: 987_654_321.0,
                start_time_seconds: 1_700_001_234.0,
                open_fds: 17.0,
                max_fds: Some(1024.0),
            }
        );
        assert_eq!(parse("garbage", status, boot, limits, 1.0), None);
    }

    #[test]
    fn reads_this_process() {
        let figures = read().expect("Linux has /proc");
        assert!(figures.resident_bytes > 1_000_000.0, "{figures:?}");
        assert!(figures.open_fds >= 3.0, "{figures:?}");
        assert!(figures.start_time_seconds > 1_600_000_000.0, "{figures:?}");
    }
}
