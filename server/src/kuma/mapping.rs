//! From Kuma's monitors and beats to our `service_status` rows: which name, which status, and
//! when a monitor has gone quiet for too long to be trusted. docs/protocol.md states the rules.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::api::{BeatStatus, PageMonitor, Snapshot};
pub use crate::service_state::ServiceState;

/// Longest service name written, the HTTP API's limit for the same column.
pub const MAX_SERVICE_NAME_CHARS: usize = 64;

/// Kuma's beat statuses as ours: pending and maintenance are neither a confirmed outage nor
/// healthy, so `degraded`; a code we do not know is `unknown`.
fn state_of_beat(status: BeatStatus) -> ServiceState {
    match status {
        BeatStatus::Up => ServiceState::Up,
        BeatStatus::Down => ServiceState::Down,
        BeatStatus::Pending | BeatStatus::Maintenance => ServiceState::Degraded,
        BeatStatus::Other(_) => ServiceState::Unknown,
    }
}

/// One monitor's row as the feed would write it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub service: String,
    pub state: ServiceState,
    pub response_time_ms: Option<i64>,
    /// Percent, 0 to 100.
    pub uptime: Option<f64>,
    /// The newest beat's time; `None` without beats.
    pub checked_at: Option<DateTime<Utc>>,
}

/// The service name for each monitor on the page, in the seed's style (`plex`, `sonarr`): its
/// name in lower case with every run of other characters than letters and digits made one `-`,
/// cut to [`MAX_SERVICE_NAME_CHARS`]; `monitor-<id>` when nothing is left; `<name>-<id>` when two
/// monitors would share a name, so neither overwrites the other's row.
pub fn service_names(monitors: &[PageMonitor]) -> Vec<(u64, String)> {
    let base: Vec<(u64, String)> = monitors
        .iter()
        .map(|monitor| {
            let slug = slug(&monitor.name);
            let slug = if slug.is_empty() {
                format!("monitor-{}", monitor.id)
            } else {
                slug
            };
            (monitor.id, slug)
        })
        .collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (_, name) in &base {
        *uses.entry(name.as_str()).or_default() += 1;
    }
    base.iter()
        .map(|(id, name)| {
            let suffix = if uses[name.as_str()] > 1 {
                format!("-{id}")
            } else {
                String::new()
            };
            let room = MAX_SERVICE_NAME_CHARS.saturating_sub(suffix.chars().count());
            let cut: String = name.chars().take(room).collect();
            (*id, format!("{}{suffix}", cut.trim_end_matches('-')))
        })
        .collect()
}

/// `Home Assistant (LAN)` becomes `home-assistant-lan`.
fn slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// The row for every named monitor at `now`. A monitor the snapshot does not cover counts as
/// having no beats.
pub fn readings(
    names: &[(u64, String)],
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Vec<Reading> {
    names
        .iter()
        .map(|(id, service)| {
            let beat = snapshot.latest.get(id).and_then(Option::as_ref);
            let fresh = beat.filter(|beat| !is_stale(beat.time, now, stale_after));
            let uptime = snapshot.uptime_ratio.get(id).map(|ratio| percent(*ratio));
            Reading {
                service: service.clone(),
                state: fresh.map_or(ServiceState::Unknown, |b| state_of_beat(b.status)),
                response_time_ms: fresh.and_then(|b| b.ping_ms).and_then(whole_ms),
                uptime,
                checked_at: beat.map(|b| b.time),
            }
        })
        .collect()
}

/// When the next of the snapshot's beats turns stale, if any is still fresh at `now`.
pub fn next_stale_at(
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Option<DateTime<Utc>> {
    let stale_after = chrono::Duration::from_std(stale_after).ok()?;
    snapshot
        .latest
        .values()
        .flatten()
        .map(|beat| beat.time + stale_after)
        .filter(|deadline| *deadline > now)
        .min()
}

fn is_stale(time: DateTime<Utc>, now: DateTime<Utc>, stale_after: Duration) -> bool {
    // A beat from the future (clock skew) has age below zero: fresh.
    (now - time).to_std().is_ok_and(|age| age >= stale_after)
}

/// A 0..1 ratio as a percentage with two decimals, clamped to 0..100.
fn percent(ratio: f64) -> f64 {
    ((ratio * 10_000.0).round() / 100.0).clamp(0.0, 100.0)
}

/// Kuma's ping in whole milliseconds; a negative or absurd value is no value.
fn whole_ms(ping: f64) -> Option<i64> {
    (ping.is_finite() && (0.0..1e12).contains(&ping)).then(|| ping.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kuma::api::Beat;

    fn at(text: &str) -> DateTime<Utc> {
        crate::kuma::api::parse_beat_time(text).expect("valid time")
    }

    fn monitor(id: u64, name: &str) -> PageMonitor {
        PageMonitor {
            id,
            name: name.to_owned(),
        }
    }

    /// A beat as `(status code, time, ping)`.
    type TestBeat<'a> = (i64, &'a str, Option<f64>);

    fn snapshot(beats: &[(u64, Option<TestBeat>)]) -> Snapshot {
        Snapshot {
            latest: beats
                .iter()
                .map(|(id, beat)| {
                    let beat = beat.map(|(status, time, ping_ms)| Beat {
                        status: BeatStatus::from(status),
                        time: at(time),
                        ping_ms,
                    });
                    (*id, beat)
                })
                .collect(),
            uptime_ratio: HashMap::from([(1, 0.99864), (2, 1.0)]),
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn each_kuma_status_maps_to_ours() {
        let names = service_names(&[
            monitor(1, "Plex"),
            monitor(2, "NAS"),
            monitor(3, "Sonarr"),
            monitor(4, "Radarr"),
            monitor(5, "Future"),
            monitor(6, "Fresh"),
        ]);
        let snap = snapshot(&[
            (1, Some((1, "2025-10-23 08:15:00.250", Some(37.6)))),
            (2, Some((0, "2025-10-23 08:15:00", None))),
            (3, Some((2, "2025-10-23 08:15:00", Some(900.0)))),
            (4, Some((3, "2025-10-23 08:15:00", None))),
            (5, Some((9, "2025-10-23 08:15:00", Some(1.0)))),
            (6, None),
        ]);
        let rows = readings(&names, &snap, at("2025-10-23 08:16:00"), MINUTE * 10);
        let states: Vec<_> = rows.iter().map(|r| r.state.as_str()).collect();
        assert_eq!(
            states,
            ["up", "down", "degraded", "degraded", "unknown", "unknown"]
        );
        assert_eq!(rows[0].response_time_ms, Some(38));
        assert_eq!(rows[0].uptime, Some(99.86));
        assert_eq!(rows[0].checked_at, Some(at("2025-10-23 08:15:00.250")));
        assert_eq!(rows[1].response_time_ms, None, "a null ping stays null");
        assert_eq!(rows[1].uptime, Some(100.0));
        assert_eq!(rows[2].uptime, None, "no uptime entry, no uptime");
        assert_eq!(rows[5].checked_at, None);
    }

    #[test]
    fn a_quiet_monitor_becomes_unknown_at_the_stale_limit() {
        let names = service_names(&[monitor(1, "Plex")]);
        let snap = snapshot(&[(1, Some((1, "2025-10-23 08:15:00", Some(20.0))))]);
        let before = readings(&names, &snap, at("2025-10-23 08:24:59.999"), MINUTE * 10);
        assert_eq!(before[0].state, ServiceState::Up);
        let after = readings(&names, &snap, at("2025-10-23 08:25:00"), MINUTE * 10);
        assert_eq!(after[0].state, ServiceState::Unknown);
        assert_eq!(after[0].response_time_ms, None);
        assert_eq!(after[0].uptime, Some(99.86), "uptime is still Kuma's word");
        assert_eq!(
            next_stale_at(&snap, at("2025-10-23 08:16:00"), MINUTE * 10),
            Some(at("2025-10-23 08:25:00"))
        );
        assert_eq!(
            next_stale_at(&snap, at("2025-10-23 08:25:00"), MINUTE * 10),
            None
        );
        let skewed = readings(&names, &snap, at("2025-10-23 08:00:00"), MINUTE);
        assert_eq!(skewed[0].state, ServiceState::Up, "a future beat is fresh");
    }

    #[test]
    fn names_are_trimmed_bounded_and_never_shared() {
        let long = "x".repeat(100);
        let names = service_names(&[
            monitor(1, " Plex "),
            monitor(2, "?!"),
            monitor(3, "Web"),
            monitor(4, "web"),
            monitor(5, &long),
            monitor(6, "Home Assistant (LAN)"),
            monitor(7, "Café"),
        ]);
        let names: Vec<&str> = names.iter().map(|(_, name)| name.as_str()).collect();
        assert_eq!(names[..4], ["plex", "monitor-2", "web-3", "web-4"]);
        assert_eq!(names[4].chars().count(), MAX_SERVICE_NAME_CHARS);
        assert_eq!(names[5..], ["home-assistant-lan", "café"]);
    }
}
