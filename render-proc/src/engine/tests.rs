//! The render engine over a real shared-memory segment, driven with a synthetic clock.

use super::*;
use std::time::Duration;

use proto::pipeline::{DeviceSpec, EffectSpec, Mapping, SegmentSpec, VirtualSpec};

fn device(id: &str, slot: u16, pixels: u32, rate: u32) -> DeviceSpec {
    DeviceSpec {
        id: id.into(),
        slot,
        generation: 1,
        device_type: "dummy".into(),
        pixel_count: pixels,
        refresh_rate: rate,
        center_offset: 0,
        config_json: "{}".into(),
        active: true,
    }
}

fn virtual_on(id: &str, segments: &[(u16, u32, u32)], effect: Option<EffectSpec>) -> VirtualSpec {
    VirtualSpec {
        id: id.into(),
        segments: segments
            .iter()
            .map(|&(slot, start, end)| SegmentSpec {
                device_id: format!("d{slot}"),
                device_slot: Some(slot),
                start,
                end,
                invert: false,
            })
            .collect(),
        mapping: Mapping::Span,
        grouping: 1,
        center_offset: 0,
        max_brightness: 1.0,
        preview_only: false,
        transition_mode: "Add".into(),
        transition_time: 0.0,
        frequency_min: 20,
        frequency_max: 15000,
        rows: 1,
        active: effect.is_some(),
        effect,
        tools: Default::default(),
        vis: None,
    }
}

fn color(c: &str, instance: u64) -> Option<EffectSpec> {
    Some(EffectSpec {
        effect_type: "singleColor".into(),
        config_json: format!(r#"{{"color":"{c}"}}"#),
        instance,
    })
}

fn state(devices: Vec<DeviceSpec>, virtuals: Vec<VirtualSpec>) -> PipelineState {
    PipelineState {
        revision: 1,
        devices,
        virtuals,
        global_brightness: 1.0,
        ..Default::default()
    }
}

fn read(seg: &Segment, slot: u16) -> Option<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    let meta = seg.device_slot(slot).read_latest(&mut out)?;
    Some((out, meta.frame_no))
}

#[test]
fn priority_goes_to_the_first_fastest_virtual_and_others_share_the_buffer() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    engine.apply_state(&state(
        vec![device("a", 0, 4, 62), device("b", 1, 2, 30)],
        vec![
            // "slow" also covers the 30 fps device b, so it runs at 30.
            virtual_on("slow", &[(0, 0, 1), (1, 0, 1)], color("#0a0000", 1)),
            virtual_on("fast", &[(0, 2, 3)], color("#00000b", 1)),
        ],
    ));
    assert_eq!(engine.devices[&0].priority, Some(1));
    assert_eq!(engine.devices[&1].priority, Some(0));
    let t0 = Instant::now();
    engine.tick(&seg, t0);
    // Slow wrote its half of device a; fast published the whole buffer.
    let (a, _) = read(&seg, 0).unwrap();
    assert_eq!(a, [10, 0, 0, 10, 0, 0, 0, 0, 11, 0, 0, 11]);
    let (b, _) = read(&seg, 1).unwrap();
    assert_eq!(b, [10, 0, 0, 10, 0, 0]);
}

#[test]
fn frames_carry_the_generation_and_a_reused_slot_starts_black() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let t0 = Instant::now();
    engine.apply_state(&state(
        vec![device("a", 0, 2, 10)],
        vec![virtual_on("v", &[(0, 0, 1)], color("#0a0000", 1))],
    ));
    engine.tick(&seg, t0);
    let mut out = Vec::new();
    let meta = seg.device_slot(0).read_latest(&mut out).unwrap();
    assert_eq!(
        (out.as_slice(), meta.generation),
        (&[10, 0, 0, 10, 0, 0][..], 1)
    );

    // Device a is deleted and slot 0 handed to device b (generation 2), whose virtual
    // covers only its first pixel: the second must not keep a's red.
    let mut b = device("b", 0, 2, 10);
    b.generation = 2;
    engine.apply_state(&state(
        vec![b],
        vec![virtual_on("v", &[(0, 0, 0)], color("#00000b", 1))],
    ));
    engine.tick(&seg, t0 + Duration::from_millis(100));
    let meta = seg.device_slot(0).read_latest(&mut out).unwrap();
    assert_eq!(
        (out.as_slice(), meta.generation),
        (&[0, 0, 11, 0, 0, 0][..], 2)
    );
}

#[test]
fn deadlines_follow_each_virtuals_period() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    engine.apply_state(&state(
        vec![device("a", 0, 2, 62), device("b", 1, 2, 30)],
        vec![
            virtual_on("a", &[(0, 0, 1)], color("red", 1)),
            virtual_on("b", &[(1, 0, 1)], color("red", 1)),
        ],
    ));
    let t0 = Instant::now();
    assert_eq!(engine.tick(&seg, t0), Some(t0 + Duration::from_millis(16)));
    assert_eq!(engine.stats().frames_rendered, 2);
    // At +16 ms only the 62 fps virtual is due.
    let next = engine.tick(&seg, t0 + Duration::from_millis(16));
    assert_eq!(engine.stats().frames_rendered, 3);
    assert_eq!(next, Some(t0 + Duration::from_millis(32)));
    engine.tick(&seg, t0 + Duration::from_millis(33));
    assert_eq!(engine.stats().frames_rendered, 5);
}

#[test]
fn a_new_instance_transitions_and_a_config_change_does_not() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let dev = || vec![device("a", 0, 1, 10)];
    let mut v = virtual_on("v", &[(0, 0, 0)], color("#640000", 1));
    v.transition_time = 0.3; // 10 fps × 0.3 s = 3 frames
    engine.apply_state(&state(dev(), vec![v.clone()]));
    let t0 = Instant::now();
    engine.tick(&seg, t0);
    assert_eq!(read(&seg, 0).unwrap().0, [100, 0, 0]);

    // Same instance, new config: applied in place, no blend.
    v.effect = color("#000064", 1);
    engine.apply_state(&state(dev(), vec![v.clone()]));
    engine.tick(&seg, t0 + Duration::from_millis(100));
    assert_eq!(read(&seg, 0).unwrap().0, [0, 0, 100]);

    // New instance: Add transition over 3 frames from blue to green.
    v.effect = color("#00c800", 2);
    engine.apply_state(&state(dev(), vec![v]));
    let mut frames = Vec::new();
    for k in 2..6 {
        engine.tick(&seg, t0 + Duration::from_millis(100 * k));
        frames.push(read(&seg, 0).unwrap().0);
    }
    assert_eq!(frames[0], [0, 66, 66]);
    assert_eq!(frames[1], [0, 133, 33]);
    assert_eq!(frames[2], [0, 200, 0]);
    assert_eq!(frames[3], [0, 200, 0]);
}

#[test]
fn clearing_fades_to_black_then_stops_publishing() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let mut v = virtual_on("v", &[(0, 0, 0)], color("#c80000", 1));
    v.transition_time = 0.2; // 2 frames at 10 fps
    engine.apply_state(&state(vec![device("a", 0, 1, 10)], vec![v.clone()]));
    let t0 = Instant::now();
    engine.tick(&seg, t0);
    // The supervisor reports a cleared virtual as inactive without effect.
    v.effect = None;
    v.active = false;
    engine.apply_state(&state(vec![device("a", 0, 1, 10)], vec![v]));
    engine.tick(&seg, t0 + Duration::from_millis(100));
    assert_eq!(read(&seg, 0).unwrap().0, [100, 0, 0]);
    assert!(engine.tick(&seg, t0 + Duration::from_millis(200)).is_none());
    let (last, frame_no) = read(&seg, 0).unwrap();
    assert_eq!(last, [0, 0, 0]);
    engine.tick(&seg, t0 + Duration::from_millis(300));
    assert_eq!(read(&seg, 0).unwrap().1, frame_no);
    assert_eq!(engine.rendering_virtuals(), 0);
}

#[test]
fn inactive_preview_and_paused_virtuals_publish_nothing() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let mut inactive = virtual_on("i", &[(0, 0, 0)], color("red", 1));
    inactive.active = false;
    let mut preview = virtual_on("p", &[(1, 0, 0)], color("red", 1));
    preview.preview_only = true;
    let devices = vec![
        device("a", 0, 1, 62),
        device("b", 1, 1, 62),
        device("c", 2, 1, 62),
    ];
    let mut s = state(
        devices,
        vec![
            inactive,
            preview,
            virtual_on("x", &[(2, 0, 0)], color("red", 1)),
        ],
    );
    s.paused = true;
    engine.apply_state(&s);
    let t0 = Instant::now();
    engine.tick(&seg, t0);
    assert!(read(&seg, 0).is_none() && read(&seg, 1).is_none() && read(&seg, 2).is_none());
    // The preview virtual still renders (for visualisation), the inactive one does not.
    assert_eq!(engine.rendering_virtuals(), 2);
    s.paused = false;
    engine.apply_state(&s);
    engine.tick(&seg, t0 + Duration::from_millis(16));
    assert!(read(&seg, 0).is_none() && read(&seg, 1).is_none());
    assert_eq!(read(&seg, 2).unwrap().0, [255, 0, 0]);
}

#[test]
fn brightness_offset_and_gap_segments_apply() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let mut v = virtual_on("v", &[(0, 0, 3)], None);
    v.segments.insert(
        0,
        SegmentSpec {
            device_id: "gap-1".into(),
            device_slot: None,
            start: 0,
            end: 1,
            invert: false,
        },
    );
    v.effect = Some(EffectSpec {
        effect_type: "rainbow".into(),
        config_json: "{}".into(),
        instance: 1,
    });
    v.active = true;
    v.max_brightness = 0.5;
    v.center_offset = 1;
    let mut s = state(vec![device("a", 0, 4, 62)], vec![v]);
    s.global_brightness = 0.5;
    engine.apply_state(&s);
    engine.tick(&seg, Instant::now());
    let (bytes, _) = read(&seg, 0).unwrap();
    // 6 effective pixels, rolled by one: device pixel k shows virtual pixel k+2, which
    // holds effect pixel k+1.
    for k in 0..4 {
        let px = crate::effects::rainbow::rainbow_pixel(0.1, k + 1, 6, 1.0);
        let expected: Vec<u8> = px.iter().map(|c| (c * 0.25) as u8).collect();
        assert_eq!(&bytes[k * 3..k * 3 + 3], &expected[..], "pixel {k}");
    }
}

#[test]
fn a_virtual_frame_reaches_its_visualisation_slot_only_while_wanted() {
    use proto::pipeline::VisSlot;
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let mut v = virtual_on("v", &[(0, 0, 2)], color("#00ff00", 1));
    v.preview_only = true;
    v.grouping = 2;
    v.vis = Some(VisSlot {
        slot: 4,
        generation: 3,
    });
    engine.apply_state(&state(vec![device("a", 0, 3, 62)], vec![v]));
    let vis = |seg: &Segment| {
        let mut out = Vec::new();
        seg.vis_slot(4)
            .read_latest(&mut out)
            .map(|meta| (out, meta.generation))
    };
    let t0 = Instant::now();
    engine.tick(&seg, t0);
    assert!(vis(&seg).is_none(), "no one watches yet");
    seg.vis_wanted(4).store(
        proto::monotonic_ns() + 10_000_000_000,
        std::sync::atomic::Ordering::Relaxed,
    );
    engine.tick(&seg, t0 + Duration::from_millis(16));
    // Three physical pixels of a preview-only virtual (two effect pixels, grouped by two).
    assert_eq!(vis(&seg), Some((vec![0, 255, 0, 0, 255, 0, 0, 255, 0], 3)));
    assert!(
        read(&seg, 0).is_none(),
        "preview-only: the device gets nothing"
    );
}
