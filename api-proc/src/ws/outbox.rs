//! One WebSocket client's outgoing messages (ledfx-api.md §4.8): an ordered control queue
//! and one latest-wins slot per `vis_id`.
//!
//! Producers (the event bus, the connection's own command replies) never wait: a push takes
//! a short lock and wakes the connection's sender. A client that stops reading therefore
//! holds at most [`CONTROL_CAPACITY`] control messages and one frame per visualised id, and
//! slows no one else.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Control messages held for a client before the backlog is thrown away (LedFx's 256).
pub const CONTROL_CAPACITY: usize = 256;

#[derive(Debug, Default)]
struct Queues {
    control: VecDeque<String>,
    /// `(vis_id, frame)` in the order the ids first got a frame; a newer frame for an id
    /// replaces the unsent one in place.
    frames: Vec<(String, String)>,
    /// Control messages thrown away because the queue was full.
    dropped: u64,
    closing: bool,
}

/// What the sender takes in one go: the control messages in order, then the frames.
#[derive(Debug, Default)]
pub struct Batch {
    pub control: Vec<String>,
    pub frames: Vec<String>,
    /// The connection must close once the batch is sent.
    pub close: bool,
}

#[derive(Debug, Default)]
pub struct Outbox {
    queues: Mutex<Queues>,
    wake: Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        // Every operation leaves the queues consistent, so a poisoned lock is still good.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a control message. When [`CONTROL_CAPACITY`] are already waiting, all of them
    /// are discarded first, as LedFx does: a client that far behind gets the newest state
    /// rather than an ever older backlog.
    pub fn push_control(&self, message: String) {
        let mut queues = self.lock();
        if queues.closing {
            return;
        }
        if queues.control.len() >= CONTROL_CAPACITY {
            queues.dropped += queues.control.len() as u64;
            queues.control.clear();
        }
        queues.control.push_back(message);
        drop(queues);
        self.wake.notify_one();
    }

    /// Puts a visualisation frame in `vis_id`'s slot, replacing an unsent one.
    pub fn push_frame(&self, vis_id: &str, frame: String) {
        let mut queues = self.lock();
        if queues.closing {
            return;
        }
        match queues.frames.iter_mut().find(|(id, _)| id == vis_id) {
            Some(slot) => slot.1 = frame,
            None => queues.frames.push((vis_id.to_owned(), frame)),
        }
        drop(queues);
        self.wake.notify_one();
    }

    /// Asks the sender to send what is queued and then close. Later pushes are ignored.
    pub fn close(&self, last: Option<String>) {
        let mut queues = self.lock();
        if let Some(last) = last {
            queues.control.push_back(last);
        }
        queues.closing = true;
        drop(queues);
        self.wake.notify_one();
    }

    /// Waits until something is queued (returns at once if something already is).
    pub async fn ready(&self) {
        self.wake.notified().await;
    }

    /// Takes everything queued.
    pub fn take(&self) -> Batch {
        let mut queues = self.lock();
        Batch {
            control: queues.control.drain(..).collect(),
            frames: queues.frames.drain(..).map(|(_, frame)| frame).collect(),
            close: queues.closing,
        }
    }

    /// Control messages discarded so far because the client fell behind.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_control_queue_is_emptied_before_the_newest_message_goes_in() {
        let outbox = Outbox::default();
        for n in 0..CONTROL_CAPACITY {
            outbox.push_control(n.to_string());
        }
        assert_eq!(outbox.take().control.len(), CONTROL_CAPACITY);
        for n in 0..=CONTROL_CAPACITY {
            outbox.push_control(n.to_string());
        }
        let batch = outbox.take();
        assert_eq!(batch.control, [CONTROL_CAPACITY.to_string()]);
        assert_eq!(outbox.dropped(), CONTROL_CAPACITY as u64);
    }

    #[test]
    fn a_newer_frame_replaces_the_unsent_one_of_its_id_and_keeps_its_place() {
        let outbox = Outbox::default();
        outbox.push_frame("a", "a1".into());
        outbox.push_frame("b", "b1".into());
        outbox.push_frame("a", "a2".into());
        outbox.push_control("c".into());
        let batch = outbox.take();
        assert_eq!(batch.frames, ["a2", "b1"]);
        assert_eq!(batch.control, ["c"]);
        assert!(!batch.close);
        assert!(outbox.take().frames.is_empty());
    }

    #[test]
    fn after_close_only_the_last_message_is_sent() {
        let outbox = Outbox::default();
        outbox.push_control("before".into());
        outbox.close(Some("bye".into()));
        outbox.push_control("after".into());
        outbox.push_frame("a", "frame".into());
        let batch = outbox.take();
        assert_eq!(batch.control, ["before", "bye"]);
        assert!(batch.frames.is_empty());
        assert!(batch.close);
    }
}
