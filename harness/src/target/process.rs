//! Signals to a child the harness started, always by its own pid: stop (SIGTERM, or the signal
//! the process takes as a quick shutdown, then SIGKILL after a grace period), kill, freeze (SIGSTOP) and thaw (SIGCONT). Every child is also spawned
//! with `kill_on_drop`, so a failure or a panic that drops it still ends the process.

use std::time::Duration;

use tokio::process::Child;

/// How long a stopped process may take to exit before it is killed.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(10);

/// Sends `signal` to the child, if it is still there.
pub(super) fn signal(child: Option<&Child>, signal: libc::c_int) {
    let Some(pid) = child.and_then(Child::id) else {
        return;
    };
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) with the pid of our own child (not yet reaped: `Child::id` is `None` once
    // it has been waited for), so the pid cannot name another process.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// `stop_signal` (SIGTERM for most), wait for the exit, SIGKILL after [`STOP_GRACE`]. A frozen
/// process is thawed first, or it could not act on the signal.
pub(super) async fn stop(child: &mut Option<Child>, stop_signal: libc::c_int) {
    signal(child.as_ref(), libc::SIGCONT);
    signal(child.as_ref(), stop_signal);
    if let Some(mut running) = child.take()
        && tokio::time::timeout(STOP_GRACE, running.wait())
            .await
            .is_err()
    {
        let _ = running.kill().await;
    }
}

/// SIGKILL, and reap.
pub(super) async fn kill(child: &mut Option<Child>) {
    if let Some(mut running) = child.take() {
        let _ = running.kill().await;
    }
}
