//! Why a transport could not be opened, named as the official client names it, and which limit
//! of this machine (open files, local ports) caused it when the server did not.

use std::fmt;

/// A connection attempt that failed for want of something on this machine, not because of the
/// server: retrying at once cannot help, and a load run must say so instead of spinning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LocalLimit {
    /// EMFILE: this process's open-files limit.
    OpenFiles,
    /// ENFILE: the system's open-files limit.
    SystemFiles,
    /// EADDRNOTAVAIL / EADDRINUSE on connect: no free local port for that address.
    Addresses,
    /// ENOBUFS / ENOMEM: the kernel's socket memory.
    Memory,
}

impl LocalLimit {
    /// The limit behind `error`, looking through its sources for an OS error.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(limit) = error
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::raw_os_error)
                .and_then(Self::from_os_error)
            {
                return Some(limit);
            }
            current = error.source();
        }
        None
    }

    const ALL: [Self; 4] = [
        Self::OpenFiles,
        Self::SystemFiles,
        Self::Addresses,
        Self::Memory,
    ];

    /// The limit named in a client's failure message ([`OpenError::client_message`]), if any.
    pub fn in_client_message(message: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|limit| message.contains(&format!("(local: {limit})")))
    }

    fn from_os_error(code: i32) -> Option<Self> {
        match code {
            24 => Some(Self::OpenFiles),
            23 => Some(Self::SystemFiles),
            98 | 99 => Some(Self::Addresses),
            12 | 105 => Some(Self::Memory),
            _ => None,
        }
    }
}

impl fmt::Display for LocalLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenFiles => "too many open files in this process (EMFILE)",
            Self::SystemFiles => "too many open files on this system (ENFILE)",
            Self::Addresses => "no free local address or port (EADDRNOTAVAIL)",
            Self::Memory => "out of socket memory (ENOBUFS)",
        })
    }
}

/// Why a transport could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Named as the official client names it: `websocket error` or `xhr poll error`; `local`
    /// when the cause is a limit of this machine.
    #[error("{kind}: {detail}")]
    Transport {
        kind: &'static str,
        detail: String,
        local: Option<LocalLimit>,
    },
    #[error("timed out opening the transport")]
    Timeout,
    #[error("unexpected handshake: {0}")]
    Handshake(String),
    #[error("upgrade failed: {0}")]
    Upgrade(String),
}

impl OpenError {
    /// The message the official client reports for this failure.
    pub fn client_message(&self) -> String {
        match self {
            OpenError::Transport {
                kind, local: None, ..
            } => (*kind).to_owned(),
            // Never seen against a working setup, so transcripts do not change; a load run
            // counts these apart.
            OpenError::Transport {
                kind,
                local: Some(limit),
                ..
            } => format!("{kind} (local: {limit})"),
            OpenError::Timeout => "timeout".to_owned(),
            OpenError::Handshake(_) => "parse error".to_owned(),
            OpenError::Upgrade(_) => "probe error".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite;

    use super::*;

    #[test]
    fn local_limits_are_found_through_error_sources_and_named_in_client_messages() {
        let emfile = std::io::Error::from_raw_os_error(24);
        assert_eq!(LocalLimit::of(&emfile), Some(LocalLimit::OpenFiles));
        let wrapped = tungstenite::Error::Io(std::io::Error::from_raw_os_error(99));
        assert_eq!(LocalLimit::of(&wrapped), Some(LocalLimit::Addresses));
        let refused = std::io::Error::from_raw_os_error(111);
        assert_eq!(
            LocalLimit::of(&refused),
            None,
            "the server's doing, not ours"
        );

        let local = OpenError::Transport {
            kind: "websocket error",
            detail: "connecting: Too many open files".into(),
            local: Some(LocalLimit::OpenFiles),
        };
        let message = local.client_message();
        assert_eq!(
            LocalLimit::in_client_message(&message),
            Some(LocalLimit::OpenFiles)
        );
        let remote = OpenError::Transport {
            kind: "websocket error",
            detail: "connection refused".into(),
            local: None,
        };
        assert_eq!(
            remote.client_message(),
            "websocket error",
            "as the official client says"
        );
    }
}
