//! Arrival phases, as Artillery users know them: a rate of new connections held for a duration,
//! or ramped linearly from one rate to another, phase after phase. [`Arrivals`] gives the moment
//! of each arrival, so a late load generator catches up instead of losing arrivals.

use std::time::Duration;

use crate::scenario::profile::ArrivalPhase;

/// The arrival times of a list of phases, from the start of the first.
#[derive(Debug, Clone)]
pub struct Arrivals {
    phases: Vec<ArrivalPhase>,
    /// The phase the next arrival falls in, and the arrivals it had so far.
    phase: usize,
    in_phase: u64,
    /// When the current phase began.
    phase_start: Duration,
}

impl Arrivals {
    pub fn new(phases: &[ArrivalPhase]) -> Self {
        Self {
            phases: phases.to_vec(),
            phase: 0,
            in_phase: 0,
            phase_start: Duration::ZERO,
        }
    }

    /// How long all phases last.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.duration.0).sum()
    }

    /// How many arrivals the phases plan (the mean rate of each phase times its duration).
    pub fn planned(&self) -> u64 {
        self.phases
            .iter()
            .map(|p| (mean_rate(p) * p.duration.0.as_secs_f64()).ceil() as u64)
            .sum()
    }

    /// The highest rate of any phase, in arrivals per second.
    pub fn peak_rate(&self) -> f64 {
        self.phases
            .iter()
            .map(|p| p.rate.max(p.ramp_to.unwrap_or(p.rate)))
            .fold(0.0, f64::max)
    }

    /// When the next arrival is due, from the start; `None` after the last phase.
    pub fn next_due(&mut self) -> Option<Duration> {
        loop {
            let phase = self.phases.get(self.phase)?;
            if let Some(at) = arrival_in(phase, self.in_phase) {
                self.in_phase += 1;
                return Some(self.phase_start + at);
            }
            self.phase_start += phase.duration.0;
            self.phase += 1;
            self.in_phase = 0;
        }
    }
}

fn mean_rate(phase: &ArrivalPhase) -> f64 {
    (phase.rate + phase.ramp_to.unwrap_or(phase.rate)) / 2.0
}

/// When arrival `k` (from 0) of `phase` falls, from the phase's start, if within it: the time
/// at which the arrivals so far, `rate·t + (ramp_to − rate)·t²/(2·duration)`, reach `k`.
fn arrival_in(phase: &ArrivalPhase, k: u64) -> Option<Duration> {
    let length = phase.duration.0.as_secs_f64();
    let start = phase.rate;
    let end = phase.ramp_to.unwrap_or(start);
    if k == 0 {
        return (start > 0.0 || end > 0.0).then_some(Duration::ZERO);
    }
    let slope = (end - start) / length / 2.0;
    let discriminant = start * start + 4.0 * slope * k as f64;
    let denominator = start + discriminant.max(0.0).sqrt();
    if discriminant < 0.0 || denominator <= 0.0 {
        // A ramp down that ends before arrival k.
        return None;
    }
    // The root of slope·t² + start·t − k = 0, in the form that stays exact when slope is 0.
    let at = 2.0 * k as f64 / denominator;
    (at < length).then(|| Duration::from_secs_f64(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Millis;

    fn phase(seconds: u64, rate: f64, ramp_to: Option<f64>) -> ArrivalPhase {
        ArrivalPhase {
            duration: Millis(Duration::from_secs(seconds)),
            rate,
            ramp_to,
        }
    }

    fn all(phases: &[ArrivalPhase]) -> Vec<Duration> {
        let mut arrivals = Arrivals::new(phases);
        std::iter::from_fn(|| arrivals.next_due()).collect()
    }

    #[test]
    fn a_steady_rate_spaces_arrivals_evenly_for_its_duration() {
        let times = all(&[phase(2, 5.0, None)]);
        assert_eq!(times.len(), 10);
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[1], Duration::from_millis(200));
        assert_eq!(times[9], Duration::from_millis(1800));
    }

    #[test]
    fn a_ramp_arrives_ever_faster_and_phases_follow_each_other() {
        let phases = [phase(10, 0.0, Some(20.0)), phase(1, 3.0, None)];
        let times = all(&phases);
        // 0 → 20 per second over 10 s: 100 arrivals, then 3 in the next second.
        assert_eq!(times.len(), 103);
        assert_eq!(Arrivals::new(&phases).planned(), 103);
        let gaps: Vec<Duration> = times[..100].windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] <= g[0]), "gaps shrink");
        assert!(times[99] < Duration::from_secs(10));
        assert_eq!(times[100], Duration::from_secs(10));
        assert_eq!(
            times[102],
            Duration::from_secs(10) + Duration::from_secs_f64(2.0 / 3.0)
        );
    }

    #[test]
    fn a_ramp_down_and_a_zero_rate_end_their_phases() {
        let down = all(&[phase(10, 20.0, Some(0.0))]);
        assert_eq!(down.len(), 100);
        assert!(down.windows(2).all(|w| w[1] > w[0]));
        assert!(all(&[phase(5, 0.0, None)]).is_empty());
    }
}
