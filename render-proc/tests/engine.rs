//! In-process integration tests of the render engine over a real shared-memory segment:
//! the engine reads audio from and publishes device frames to the same slots the other
//! stages use, driven with a synthetic clock (no sleeping, no wall-clock assertions).

use std::time::{Duration, Instant};

use proto::audio::AudioFrame;
use proto::layout::Segment;
use proto::pipeline::{DeviceSpec, EffectSpec, Mapping, PipelineState, SegmentSpec, VirtualSpec};
use render_proc::Engine;

const PIXELS: u32 = 30;
const FRAME: Duration = Duration::from_millis(16);

fn state(effect_type: &str, config_json: &str) -> PipelineState {
    PipelineState {
        revision: 1,
        devices: vec![DeviceSpec {
            id: "strip".into(),
            slot: 0,
            generation: 1,
            device_type: "dummy".into(),
            pixel_count: PIXELS,
            refresh_rate: 62,
            center_offset: 0,
            config_json: "{}".into(),
            active: true,
        }],
        virtuals: vec![VirtualSpec {
            id: "strip".into(),
            segments: vec![SegmentSpec {
                device_id: "strip".into(),
                device_slot: Some(0),
                start: 0,
                end: PIXELS - 1,
                invert: false,
            }],
            mapping: Mapping::Span,
            grouping: 1,
            center_offset: 0,
            max_brightness: 1.0,
            preview_only: false,
            transition_mode: "Add".into(),
            transition_time: 0.4,
            frequency_min: 20,
            frequency_max: 15000,
            rows: 1,
            active: true,
            effect: Some(EffectSpec {
                effect_type: effect_type.into(),
                config_json: config_json.into(),
                instance: 1,
            }),
            tools: Default::default(),
            vis: None,
        }],
        global_brightness: 1.0,
        paused: false,
        flush_on_deactivate: false,
        audio: Default::default(),
    }
}

/// The newest device frame of slot 0 and its frame number.
fn device_frame(seg: &Segment) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let meta = seg
        .device_slot(0)
        .read_latest(&mut out)
        .expect("a published frame");
    (out, meta.frame_no)
}

/// HSV→RGB as the spec states it (6 sectors, hue mod 1), ×255.
fn hsv255(h: f64, s: f64, v: f64) -> [f64; 3] {
    let h = h.rem_euclid(1.0) * 6.0;
    let sector = h.floor();
    let f = h - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let rgb = match sector as i32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    };
    rgb.map(|c| c * 255.0)
}

/// Checks a published frame against the rainbow formula with pixel-0 hue `hue` (±1 per byte
/// for truncation at a float boundary).
fn assert_rainbow(frame: &[u8], hue: f64) {
    assert_eq!(frame.len(), PIXELS as usize * 3);
    for i in 0..PIXELS as usize {
        let expected = hsv255(hue + i as f64 / f64::from(PIXELS), 0.95, 1.0);
        for c in 0..3 {
            let got = i32::from(frame[i * 3 + c]);
            let want = expected[c] as i32;
            assert!(
                (got - want).abs() <= 1,
                "pixel {i} channel {c}: got {got}, want {want} (hue {hue})"
            );
        }
    }
}

#[test]
fn rainbow_frames_follow_the_formula_and_move() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    engine.apply_state(&state("rainbow", r#"{"speed": 1.0, "frequency": 1.0}"#));
    let t0 = Instant::now();

    let next = engine.tick(&seg, t0);
    assert_eq!(next, Some(t0 + FRAME));
    let (first, first_no) = device_frame(&seg);
    // The first state starts without a transition, at hue 0.1.
    assert_rainbow(&first, 0.1);

    let mut previous = first;
    for k in 1..=5u32 {
        let now = t0 + FRAME * k;
        engine.tick(&seg, now);
        let (frame, frame_no) = device_frame(&seg);
        assert_eq!(frame_no, first_no + u64::from(k));
        // Hue advances 0.1·speed per second.
        assert_rainbow(&frame, 0.1 + 0.1 * (FRAME * k).as_secs_f64());
        previous = frame;
    }
    // Half a second later the picture has visibly moved (hue +0.05 ≈ 1.5 pixels).
    engine.tick(&seg, t0 + Duration::from_millis(580));
    let (later, _) = device_frame(&seg);
    assert_ne!(later, previous);
    assert_rainbow(&later, 0.1 + 0.1 * 0.58);
}

#[test]
fn a_tick_before_the_deadline_publishes_nothing() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    engine.apply_state(&state("rainbow", "{}"));
    let t0 = Instant::now();
    engine.tick(&seg, t0);
    let (_, no) = device_frame(&seg);
    assert_eq!(engine.tick(&seg, t0 + FRAME / 2), Some(t0 + FRAME));
    assert_eq!(device_frame(&seg).1, no);
}

/// A loud analysis frame: every melbank bin at 1, a volume beat.
fn loud() -> AudioFrame {
    let mut f = AudioFrame::silent();
    f.volume = 1.0;
    f.volume_beat = 1;
    f.mel_samples = 24;
    f.melbank_max_hz = [350.0, 2000.0, 15000.0];
    for bank in 0..3 {
        f.mel[bank][..24].fill(1.0);
    }
    f
}

fn brightness(frame: &[u8]) -> u32 {
    frame.iter().map(|&b| u32::from(b)).sum()
}

#[test]
fn energy_lights_up_with_audio_and_decays_when_audio_goes_stale() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    engine.apply_state(&state("energy", "{}"));
    let t0 = Instant::now();
    let mut tick = 0u32;
    let mut step = |engine: &mut Engine| {
        engine.tick(&seg, t0 + FRAME * tick);
        tick += 1;
        device_frame(&seg).0
    };

    // Fresh loud audio: all three bars cover the strip → lit (white, blurred at the ends).
    let frame = loud();
    seg.audio_slot()
        .publish(frame.as_bytes(), proto::monotonic_ns());
    let lit = step(&mut engine);
    assert!(brightness(&lit) > 0);
    let centre = &lit[15 * 3..15 * 3 + 3];
    assert!(centre.iter().all(|&c| c > 200), "centre {centre:?}");

    // The same frame, now 1 s old: silence, so the filter decays towards black.
    seg.audio_slot().publish(
        frame.as_bytes(),
        proto::monotonic_ns().saturating_sub(1_000_000_000),
    );
    let mut last = brightness(&lit);
    for _ in 0..5 {
        let b = brightness(&step(&mut engine));
        assert!(b < last, "brightness {b} did not drop below {last}");
        last = b;
    }
    for _ in 0..60 {
        step(&mut engine);
    }
    assert_eq!(brightness(&step(&mut engine)), 0);

    // Audio is back: the strip lights again.
    seg.audio_slot()
        .publish(frame.as_bytes(), proto::monotonic_ns());
    assert!(brightness(&step(&mut engine)) > 0);
}

#[test]
fn energy_without_any_audio_frame_stays_black() {
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    engine.apply_state(&state("energy", "{}"));
    engine.tick(&seg, Instant::now());
    assert_eq!(brightness(&device_frame(&seg).0), 0);
}

#[test]
fn force_color_paints_an_idle_virtual_once_and_calibration_shows_the_segment() {
    use proto::pipeline::{Paint, VirtualTools};
    let seg = Segment::create().unwrap();
    let mut engine = Engine::new();
    let mut s = state("rainbow", "{}");
    s.virtuals[0].active = false;
    s.virtuals[0].effect = None;
    engine.apply_state(&s);
    let t0 = Instant::now();
    assert_eq!(
        engine.tick(&seg, t0),
        None,
        "an idle virtual renders nothing"
    );

    s.revision = 2;
    s.virtuals[0].tools = VirtualTools {
        paint: Some(Paint {
            seq: 7,
            rgb: [0, 0, 255],
        }),
        ..VirtualTools::default()
    };
    engine.apply_state(&s);
    assert_eq!(engine.tick(&seg, t0), None, "one frame, then idle again");
    let (painted, _) = device_frame(&seg);
    assert!(painted.chunks(3).all(|p| p == [0, 0, 255]));
    // The same state again (another revision, same paint) paints nothing new.
    s.revision = 3;
    engine.apply_state(&s);
    assert_eq!(engine.rendering_virtuals(), 0);

    s.revision = 4;
    s.virtuals[0].segments[0].start = 10;
    s.virtuals[0].segments[0].end = 19;
    s.virtuals[0].tools.calibration = true;
    engine.apply_state(&s);
    engine.tick(&seg, t0 + FRAME);
    let (calibrating, _) = device_frame(&seg);
    let pixel = |i: usize| &calibrating[i * 3..i * 3 + 3];
    assert_eq!(pixel(9), [0, 0, 0], "outside the segment: black");
    assert_eq!(pixel(20), [0, 0, 0]);
    assert_eq!(
        pixel(19),
        [255, 0, 0],
        "the first segment is red, brightest at its end"
    );
    assert!(pixel(10)[0] < pixel(15)[0] && pixel(10)[0] > 0);
}
