//! `audio_device_list_changed`: LedFx fires it when the OS's audio devices change (a USB
//! microphone plugged in, a sink added), so clients reload `/api/audio/devices`.
//!
//! audio-proc's device watcher republishes the audio status whenever its listing changes;
//! this task looks at the status slot once a second and fires the event when the device
//! list differs from the one it saw before (names and order; the first look only records).

use std::time::Duration;

use proto::audio_status::InputDevice;
use proto::layout::Segment;

use super::bus::{Bus, LedfxEvent};

/// How often the status slot is looked at.
const EVERY: Duration = Duration::from_secs(1);

/// Follows the device list until the process ends.
pub async fn follow(segment: Segment, bus: Bus) {
    let mut seen_frame = 0u64;
    let mut seen: Option<Vec<InputDevice>> = None;
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let frame = segment.audio_status_slot().latest_frame_no();
        if frame == seen_frame {
            continue;
        }
        seen_frame = frame;
        let Some(status) = segment.audio_status() else {
            continue;
        };
        if changed(&mut seen, status.devices) {
            bus.fire(&LedfxEvent::new(
                "audio_device_list_changed",
                serde_json::Value::Null,
            ));
        }
    }
}

/// Records `now`; whether it differs from a list seen before.
fn changed(seen: &mut Option<Vec<InputDevice>>, now: Vec<InputDevice>) -> bool {
    let differs = seen.as_ref().is_some_and(|before| *before != now);
    *seen = Some(now);
    differs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str) -> InputDevice {
        InputDevice {
            name: name.into(),
            id: name.to_lowercase(),
            monitor: false,
        }
    }

    #[test]
    fn only_a_different_list_is_a_change() {
        let mut seen = None;
        assert!(
            !changed(&mut seen, vec![device("A")]),
            "the first look only records"
        );
        assert!(!changed(&mut seen, vec![device("A")]));
        assert!(changed(&mut seen, vec![device("A"), device("B")]));
        assert!(changed(&mut seen, vec![device("B")]));
        assert!(!changed(&mut seen, vec![device("B")]));
    }
}
