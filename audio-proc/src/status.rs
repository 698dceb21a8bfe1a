//! The audio status board: the one place audio-proc's threads record the device list and the
//! capture state, published into shared memory whenever it changes.
//!
//! The capture thread, the device watcher and (for the WLED Audio Sync counters, once a
//! second) the analysis thread all write it, so it sits behind a mutex; the mutex also keeps
//! the status slot's single-writer rule (one publish at a time). None of them is an audio
//! callback, and no one holds the lock for more than a copy, so it never stalls audio.

use std::sync::{Arc, Mutex, PoisonError};

use proto::audio_status::AudioStatus;

/// Where an encoded status goes.
pub type StatusPublisher = Box<dyn FnMut(&[u8]) + Send>;

struct Inner {
    status: AudioStatus,
    publish: StatusPublisher,
}

/// Shared handle to the board. Cloning shares it.
#[derive(Clone)]
pub struct StatusBoard {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard")
            .field("status", &self.get())
            .finish()
    }
}

impl StatusBoard {
    /// A board publishing through `publish` (the status slot in the real stage).
    pub fn new(publish: StatusPublisher) -> Self {
        let mut inner = Inner {
            status: AudioStatus::default(),
            publish,
        };
        let first = inner.status.encode();
        (inner.publish)(&first);
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// A board that publishes nowhere (tests, tools).
    pub fn detached() -> Self {
        Self::new(Box::new(|_| {}))
    }

    /// The board writing into the segment's audio status slot.
    pub fn shm(segment: proto::layout::Segment) -> Self {
        Self::new(Box::new(move |bytes| {
            segment
                .audio_status_slot()
                .publish(bytes, proto::monotonic_ns());
        }))
    }

    /// Changes the status; publishes it when the change changed anything.
    pub fn update(&self, change: impl FnOnce(&mut AudioStatus)) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let before = inner.status.clone();
        change(&mut inner.status);
        if inner.status != before {
            let bytes = inner.status.encode();
            (inner.publish)(&bytes);
        }
    }

    /// A copy of the current status.
    pub fn get(&self) -> AudioStatus {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::audio_status::CaptureState;

    #[test]
    fn only_changes_are_published() {
        let published = Arc::new(Mutex::new(Vec::<AudioStatus>::new()));
        let sink = published.clone();
        let board = StatusBoard::new(Box::new(move |bytes| {
            sink.lock()
                .unwrap()
                .push(AudioStatus::decode(bytes).unwrap());
        }));
        board.update(|s| s.state = CaptureState::NoDevice);
        board.update(|s| s.state = CaptureState::NoDevice);
        board.update(|s| s.error = Some("gone".into()));
        let seen = published.lock().unwrap();
        let states: Vec<_> = seen.iter().map(|s| (s.state, s.error.clone())).collect();
        assert_eq!(
            states,
            vec![
                (CaptureState::Starting, None),
                (CaptureState::NoDevice, None),
                (CaptureState::NoDevice, Some("gone".into())),
            ]
        );
        assert_eq!(board.get().error.as_deref(), Some("gone"));
    }
}
