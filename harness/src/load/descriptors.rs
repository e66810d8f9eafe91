//! The open-files budget of a load run. Every client holds a descriptor in the harness, and one
//! in a server the harness launches (which inherits the harness's limit), so a run that cannot
//! fit is refused before anything starts, saying what it needs and how to get it, instead of
//! failing connection after connection. The soft limit is first raised to the hard one, as
//! `benches/compare.sh` does with `ulimit -n`.

/// Descriptors beyond one per connection: the runtime, the HTTP client's pool, a launched server's
/// database and listener, the log files.
pub const RESERVE: u64 = 256;

/// A run that cannot fit in the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{connections} connections need about {needed} open files per process (one each, plus {RESERVE}), \
     but this process may open {allowed} (hard limit {hard}); raise the hard limit \
     (`ulimit -Hn {needed}` as root, or `nofile` in /etc/security/limits.conf), or run fewer clients"
)]
pub struct TooFewDescriptors {
    pub connections: u64,
    pub needed: u64,
    pub allowed: u64,
    pub hard: u64,
}

/// Raises the soft open-files limit as far as the hard one allows and checks that `connections`
/// fit; returns the limit now in force.
pub fn ensure(connections: u64) -> Result<u64, TooFewDescriptors> {
    let needed = connections + RESERVE;
    let (soft, hard) = limits();
    let allowed = if soft < needed && soft < hard {
        raise(hard.min(needed.max(soft)))
    } else {
        soft
    };
    if allowed < needed {
        return Err(TooFewDescriptors {
            connections,
            needed,
            allowed,
            hard,
        });
    }
    Ok(allowed)
}

/// Connections one process may hold once its soft limit is raised to the hard one: how many
/// clients a load worker can take.
pub fn per_process_capacity() -> u64 {
    let (soft, hard) = limits();
    let allowed = if soft < hard { raise(hard) } else { soft };
    allowed.saturating_sub(RESERVE)
}

/// Worker processes needed for `clients`, each within [`per_process_capacity`]; 1 means the
/// clients fit in this process.
pub fn workers_needed(clients: u64) -> usize {
    let capacity = per_process_capacity().max(1);
    clients.div_ceil(capacity).max(1) as usize
}

fn limits() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (0, 0);
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// Sets the soft limit to `wanted` (at most the hard limit); returns the soft limit in force.
fn raise(wanted: u64) -> u64 {
    let (soft, hard) = limits();
    let limit = libc::rlimit {
        rlim_cur: wanted.min(hard),
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads one rlimit we own; on failure the old limit stays.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return soft;
    }
    limits().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_fits_is_allowed_and_one_past_the_hard_limit_is_refused() {
        let (_, hard) = limits();
        assert!(ensure(10).is_ok_and(|allowed| allowed >= 10 + RESERVE));
        let refused = ensure(hard).expect_err("more than the hard limit");
        assert_eq!(refused.needed, hard + RESERVE);
        let text = refused.to_string();
        assert!(
            text.contains("ulimit -Hn") && text.contains(&hard.to_string()),
            "{text}"
        );
    }

    #[test]
    fn clients_past_one_process_are_spread_over_enough_workers() {
        let capacity = per_process_capacity();
        assert_eq!(workers_needed(1), 1);
        assert_eq!(workers_needed(capacity), 1);
        assert_eq!(workers_needed(capacity + 1), 2);
        assert_eq!(workers_needed(2 * capacity + 1), 3);
    }

    #[test]
    fn a_low_soft_limit_is_raised_towards_the_hard_one() {
        let (_, hard) = limits();
        if hard < 2 * RESERVE + 100 {
            return; // nothing to raise into on this machine
        }
        assert_eq!(raise(RESERVE + 10), RESERVE + 10, "lowered for the test");
        let allowed = ensure(RESERVE).expect("fits under the hard limit");
        assert!(allowed >= 2 * RESERVE, "raised to {allowed}");
    }
}
