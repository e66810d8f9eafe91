//! A failed step as the report shows it: where it is (step number, keyword, line, column and
//! the source line), why, and what each client received since the last observation a step
//! took; and, for a wait that found nothing, which earlier step had taken what it waited for.

use crate::client::Observed;
use crate::transcript;

use super::{Runner, StepError};

/// Why a step failed.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub index: usize,
    pub keyword: &'static str,
    pub line: u64,
    pub column: u64,
    pub source_line: String,
    pub message: String,
    /// Per client: what it received since the last observation a step took, with times
    /// relative to the failing step's start.
    pub recent: Vec<(String, Vec<String>)>,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "step {} ({}) at line {}:{} failed",
            self.index + 1,
            self.keyword,
            self.line,
            self.column
        )?;
        writeln!(f, "  {} | {}", self.line, self.source_line.trim_end())?;
        for line in self.message.lines() {
            writeln!(f, "  {line}")?;
        }
        for (client, lines) in &self.recent {
            if lines.is_empty() {
                writeln!(
                    f,
                    "  {client} received nothing since the last observation a step took"
                )?;
                continue;
            }
            writeln!(
                f,
                "  {client} received since the last observation a step took (times from this step's start):"
            )?;
            for line in lines {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

impl Runner<'_> {
    /// The report of `error`, with what each client received recently.
    pub(super) fn failure(&self, error: StepError) -> StepFailure {
        let step = self.scenario.steps.get(error.index);
        let source_line = self
            .file
            .source
            .lines()
            .nth(error.line.saturating_sub(1) as usize)
            .unwrap_or_default()
            .to_owned();
        let step_started = self.current.1;
        let recent = self
            .clients
            .iter()
            .map(|(name, slot)| {
                let after = slot.client.taken().iter().map(|t| t.index + 1).max();
                let received: Vec<String> = slot.client.history()[after.unwrap_or(0)..]
                    .iter()
                    .filter(|o| o.command.is_none())
                    .filter(|o| {
                        !matches!(
                            o.what,
                            Observed::Emit { .. }
                                | Observed::AckSent { .. }
                                | Observed::Ping
                                | Observed::Pong
                        )
                    })
                    .map(|o| {
                        let at = slot.client.started() + o.at;
                        let relative = match at.checked_duration_since(step_started) {
                            Some(after) => format!("+{}ms", after.as_millis()),
                            None => format!("-{}ms", (step_started - at).as_millis()),
                        };
                        format!("{relative:>8} {}", transcript::describe(&o.what))
                    })
                    .collect();
                let shown = received[received.len().saturating_sub(12)..].to_vec();
                (name.clone(), shown)
            })
            .collect();
        StepFailure {
            index: error.index,
            keyword: step.map_or("scenario", |s| s.value.keyword()),
            line: error.line,
            column: error.column,
            source_line,
            message: error.cause.to_string(),
            recent,
        }
    }

    /// Why a wait of client `name` for `wanted` found nothing, when a step had taken a match:
    /// names that step.
    pub(super) fn taken_earlier(&self, name: &str, wanted: impl Fn(&Observed) -> bool) -> String {
        let Some((_, slot)) = self.clients.iter().find(|(n, _)| n == name) else {
            return String::new();
        };
        let taken = slot.client.taken();
        let Some((position, observation)) = taken.iter().enumerate().rev().find_map(|(i, t)| {
            let observation = slot.client.history().get(t.index)?;
            wanted(&observation.what).then_some((i, observation))
        }) else {
            return String::new();
        };
        let step = slot
            .taken_by
            .get(position)
            .copied()
            .unwrap_or(self.current.0);
        let (line, column) = self.location(step);
        let keyword = self
            .scenario
            .steps
            .get(step)
            .map_or("scenario", |s| s.value.keyword());
        let whose = if step == self.current.0 {
            "this step".to_owned()
        } else {
            format!(
                "step {} ({keyword}) at {}:{line}:{column}",
                step + 1,
                self.file.path
            )
        };
        format!(
            "\n  one arrived, but {whose} already took it: {}",
            transcript::describe(&observation.what)
        )
    }
}
