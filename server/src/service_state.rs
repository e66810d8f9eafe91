//! The statuses a service can have: the set the dashboard draws (`page/src/view.ts`), the Uptime
//! Kuma feed writes ([`crate::kuma::mapping`]) and `PUT /api/v1/status/{service}` accepts.
//! Anything else would be stored and shown grey with no meaning, so the API refuses it.

/// A service's status, as stored and sent (`up`, `down`, `degraded`, `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    Up,
    Down,
    /// Working but impaired. From Kuma: pending (failing, retries not yet used up) or
    /// maintenance (taken out on purpose): neither is a confirmed outage, neither is healthy.
    Degraded,
    /// No current word: from Kuma, no beat yet, a beat older than the stale limit, or a status
    /// code we do not know.
    Unknown,
}

impl ServiceState {
    /// Every status, in the order error messages list them.
    pub const ALL: [Self; 4] = [Self::Up, Self::Down, Self::Degraded, Self::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Degraded => "degraded",
            Self::Unknown => "unknown",
        }
    }

    /// The status named exactly `text` (lower case, as stored).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// `up, down, degraded, unknown`: for error messages.
    pub fn listed() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_parses_back_and_nothing_else_does() {
        for state in ServiceState::ALL {
            assert_eq!(ServiceState::parse(state.as_str()), Some(state));
        }
        for other in ["UP", "Up", "broken", "", " up", "maintenance", "pending"] {
            assert_eq!(ServiceState::parse(other), None, "{other:?}");
        }
        assert_eq!(ServiceState::listed(), "up, down, degraded, unknown");
    }
}
