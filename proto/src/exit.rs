//! The exit-code contract between a stage and the supervisor.
//!
//! A stage that exits on purpose says why through its exit status; the supervisor's restart
//! policy reads it. A stage killed by a signal (including a panic, which aborts) has no code
//! and is treated as a crash.

/// Why a stage process exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ExitCode {
    /// Clean shutdown requested by the supervisor.
    Ok = 0,
    /// Unexpected internal failure: restart with backoff.
    Internal = 1,
    /// Command-line misuse (a stage started by hand, say): do not restart.
    Usage = 2,
    /// The configuration handed to the stage cannot be used: restarting with the same
    /// configuration would fail again, so the supervisor rolls back instead of looping.
    BadConfig = 64,
    /// The stage speaks another control-protocol or shared-memory layout version.
    IpcVersionMismatch = 65,
    /// A required device (audio input, network socket) could not be opened.
    DeviceUnavailable = 66,
    /// The control connection to the supervisor was lost: the supervisor is gone.
    SupervisorGone = 67,
}

impl ExitCode {
    /// Every code, for lookups and tests.
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Ok,
        ExitCode::Internal,
        ExitCode::Usage,
        ExitCode::BadConfig,
        ExitCode::IpcVersionMismatch,
        ExitCode::DeviceUnavailable,
        ExitCode::SupervisorGone,
    ];

    /// The code for a raw exit status, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| *c as i32 == code)
    }

    /// Whether the supervisor should restart a stage that exited with this code.
    pub fn should_restart(self) -> bool {
        matches!(
            self,
            ExitCode::Internal | ExitCode::DeviceUnavailable | ExitCode::SupervisorGone
        )
    }

    /// Exits the process with this code.
    pub fn exit(self) -> ! {
        std::process::exit(self as i32)
    }
}

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({})", *self as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for code in ExitCode::ALL {
            assert_eq!(ExitCode::from_code(code as i32), Some(code));
        }
        let mut raw: Vec<i32> = ExitCode::ALL.iter().map(|c| *c as i32).collect();
        raw.dedup();
        assert_eq!(raw.len(), ExitCode::ALL.len());
        assert_eq!(ExitCode::from_code(3), None);
    }

    #[test]
    fn bad_config_is_not_restarted_but_crashes_are() {
        assert!(!ExitCode::BadConfig.should_restart());
        assert!(!ExitCode::IpcVersionMismatch.should_restart());
        assert!(ExitCode::Internal.should_restart());
    }
}
