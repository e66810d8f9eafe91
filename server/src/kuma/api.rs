//! The two public status-page responses of Uptime Kuma, as read from 1.23 and 2.x, and their
//! conversion into a [`Snapshot`] the rest of the feed trusts.
//!
//! Only the fields the feed needs are declared; everything else (1.23's `incident`, 2.x's
//! `incidents`, `config`, `maintenanceList`, tags, certificates) is ignored, which is what makes
//! one set of shapes read both versions. Checks that serde cannot express (numeric keys, beat
//! times) happen in [`HeartbeatResponse::into_snapshot`], so a reply that parses but makes no
//! sense is refused as a whole instead of half-applied.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

/// `GET /api/status-page/{slug}`: the monitors the page shows, grouped.
#[derive(Debug, Deserialize)]
pub struct StatusPageResponse {
    #[serde(rename = "publicGroupList", default)]
    pub groups: Vec<PublicGroup>,
}

#[derive(Debug, Deserialize)]
pub struct PublicGroup {
    #[serde(rename = "monitorList", default)]
    pub monitors: Vec<PageMonitor>,
}

/// A monitor as a status page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PageMonitor {
    pub id: u64,
    pub name: String,
}

impl StatusPageResponse {
    /// Every monitor on the page, in page order, each once (a monitor may sit in two groups).
    pub fn monitors(self) -> Vec<PageMonitor> {
        let mut seen = std::collections::HashSet::new();
        self.groups
            .into_iter()
            .flat_map(|group| group.monitors)
            .filter(|monitor| seen.insert(monitor.id))
            .collect()
    }
}

/// `GET /api/status-page/heartbeat/{slug}`.
#[derive(Debug, Deserialize)]
pub struct HeartbeatResponse {
    /// Beats by monitor id (a string key), oldest first.
    #[serde(rename = "heartbeatList")]
    pub heartbeats: HashMap<String, Vec<RawBeat>>,
    /// 24-hour uptime ratios keyed `"<id>_24"`.
    #[serde(rename = "uptimeList", default)]
    pub uptimes: HashMap<String, Option<f64>>,
}

/// One heartbeat as sent; `msg` is always empty on the public view and not read.
#[derive(Debug, Deserialize)]
pub struct RawBeat {
    pub status: i64,
    pub time: String,
    #[serde(default)]
    pub ping: Option<f64>,
}

/// Kuma's heartbeat status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeatStatus {
    Down,
    Up,
    Pending,
    Maintenance,
    /// A code this feed does not know (a newer Kuma); mapped to `unknown`, never guessed.
    Other(i64),
}

impl From<i64> for BeatStatus {
    fn from(code: i64) -> Self {
        match code {
            0 => Self::Down,
            1 => Self::Up,
            2 => Self::Pending,
            3 => Self::Maintenance,
            other => Self::Other(other),
        }
    }
}

/// A monitor's newest beat, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    pub status: BeatStatus,
    pub time: DateTime<Utc>,
    pub ping_ms: Option<f64>,
}

/// What one heartbeat read says about each monitor it covers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Newest beat by monitor id; `None` for a monitor with no beats yet.
    pub latest: HashMap<u64, Option<Beat>>,
    /// 24-hour uptime ratio (0..1) by monitor id.
    pub uptime_ratio: HashMap<u64, f64>,
}

/// A reply that parsed as JSON but does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("monitor key {0:?} is not a number")]
    MonitorKey(String),
    #[error("monitor {id} has a beat time {time:?} that is not `YYYY-MM-DD HH:MM:SS[.sss]`")]
    BeatTime { id: u64, time: String },
}

impl HeartbeatResponse {
    pub fn into_snapshot(self) -> Result<Snapshot, ShapeError> {
        let mut snapshot = Snapshot::default();
        for (key, beats) in self.heartbeats {
            let id: u64 = key
                .parse()
                .map_err(|_| ShapeError::MonitorKey(key.clone()))?;
            let mut newest: Option<Beat> = None;
            // Kuma sends oldest first; picking by time keeps a reordered list harmless.
            for raw in beats {
                let time = parse_beat_time(&raw.time).ok_or_else(|| ShapeError::BeatTime {
                    id,
                    time: raw.time.chars().take(40).collect(),
                })?;
                if newest.as_ref().is_none_or(|beat| time >= beat.time) {
                    newest = Some(Beat {
                        status: BeatStatus::from(raw.status),
                        time,
                        ping_ms: raw.ping,
                    });
                }
            }
            snapshot.latest.insert(id, newest);
        }
        for (key, ratio) in self.uptimes {
            // Only the 24-hour window exists today; other suffixes are skipped, not refused.
            let Some(id) = key.strip_suffix("_24").and_then(|id| id.parse().ok()) else {
                continue;
            };
            if let Some(ratio) = ratio.filter(|r| r.is_finite()) {
                snapshot.uptime_ratio.insert(id, ratio);
            }
        }
        Ok(snapshot)
    }
}

/// Parses Kuma's beat time: UTC without a zone, with or without milliseconds (MariaDB drops
/// them). An ISO form with `T` and `Z` is accepted too, in case a version switches to it.
pub fn parse_beat_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn beat_times_with_and_without_milliseconds() {
        let with = parse_beat_time("2025-10-23 08:14:02.512").expect("parses");
        assert_eq!(
            with,
            Utc.with_ymd_and_hms(2025, 10, 23, 8, 14, 2).unwrap()
                + chrono::Duration::milliseconds(512)
        );
        let without = parse_beat_time("2025-10-23 08:14:02").expect("parses");
        assert_eq!(
            without,
            Utc.with_ymd_and_hms(2025, 10, 23, 8, 14, 2).unwrap()
        );
        assert_eq!(
            parse_beat_time("2025-10-23T08:14:02Z"),
            Some(without),
            "an ISO time is read as UTC"
        );
        assert_eq!(parse_beat_time("23/10/2025 08:14"), None);
        assert_eq!(parse_beat_time(""), None);
    }

    #[test]
    fn a_page_lists_each_monitor_once_across_groups() {
        let page: StatusPageResponse = serde_json::from_str(
            r#"{"incident": null, "publicGroupList": [
                 {"id": 1, "name": "A", "monitorList": [{"id": 3, "name": "Plex", "type": "http", "sendUrl": 0}]},
                 {"id": 2, "name": "B", "monitorList": [{"id": 3, "name": "Plex", "type": "http"},
                                                        {"id": 4, "name": "NAS", "type": "ping"}]},
                 {"id": 3, "name": "Empty"}]}"#,
        )
        .expect("parses");
        let names: Vec<_> = page.monitors().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["Plex", "NAS"]);
    }

    #[test]
    fn the_newest_beat_wins_and_a_null_ping_stays_null() {
        let response: HeartbeatResponse = serde_json::from_str(
            r#"{"heartbeatList": {
                  "3": [{"status": 1, "time": "2025-10-23 08:14:02.512", "msg": "", "ping": 38},
                        {"status": 0, "time": "2025-10-23 08:15:02", "msg": "", "ping": null}],
                  "4": []},
                "uptimeList": {"3_24": 0.9986, "4_24": 0, "3_720": 0.5}}"#,
        )
        .expect("parses");
        let snapshot = response.into_snapshot().expect("makes sense");
        let newest = snapshot.latest[&3].as_ref().expect("has beats");
        assert_eq!(newest.status, BeatStatus::Down);
        assert_eq!(newest.ping_ms, None);
        assert_eq!(snapshot.latest[&4], None);
        assert_eq!(snapshot.uptime_ratio[&3], 0.9986);
        assert_eq!(snapshot.uptime_ratio[&4], 0.0);
        assert_eq!(snapshot.uptime_ratio.len(), 2, "only the 24-hour window");
    }

    #[test]
    fn nonsense_is_refused_whole() {
        let bad_key: HeartbeatResponse =
            serde_json::from_str(r#"{"heartbeatList": {"plex": []}, "uptimeList": {}}"#)
                .expect("parses");
        assert_eq!(
            bad_key.into_snapshot(),
            Err(ShapeError::MonitorKey("plex".into()))
        );
        let bad_time: HeartbeatResponse = serde_json::from_str(
            r#"{"heartbeatList": {"3": [{"status": 1, "time": "yesterday", "ping": 1}]}}"#,
        )
        .expect("parses");
        assert!(matches!(
            bad_time.into_snapshot(),
            Err(ShapeError::BeatTime { id: 3, .. })
        ));
        assert!(serde_json::from_str::<HeartbeatResponse>(r#"{"ok": true}"#).is_err());
    }

    #[test]
    fn unknown_status_codes_are_kept_apart() {
        assert_eq!(BeatStatus::from(2), BeatStatus::Pending);
        assert_eq!(BeatStatus::from(3), BeatStatus::Maintenance);
        assert_eq!(BeatStatus::from(7), BeatStatus::Other(7));
    }
}
