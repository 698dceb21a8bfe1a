//! ledfx-rs's analysis against LedFx 2.2.1's own, hop by hop, on the same WAV files.
//!
//! `tests/fixtures/audio/*.wav` are test signals (`tools/ledfx-analysis/signals.py`);
//! `tests/fixtures/audio/ledfx-2.2.1/*.json` are what LedFx 2.2.1 computed from them
//! (`tools/ledfx-analysis/record.py`, which drives LedFx's `AudioAnalysisSource` with the
//! file instead of a microphone). Both run with LedFx's default settings.
//!
//! Tolerances (absolute, on values that live in 0..~2.5): LedFx computes in float32 through
//! aubio and numpy, ledfx-rs in f32 with its own FFT, so results agree to rounding, which the
//! slow filters then carry for a while. What is not built to LedFx's algorithm yet (aubio's
//! tempo beat tracker) is compared and printed but not held to equality (only the BPM a
//! steady beat settles on); the README's status table says so.

use std::path::{Path, PathBuf};

use audio_proc::{AnalysisParams, Analyzer, HOP};
use serde_json::Value;

/// Largest difference allowed, per quantity.
const VOLUME_TOLERANCE: f32 = 1e-4;
const MEL_TOLERANCE: f32 = 1e-4;
const POWER_TOLERANCE: f32 = 1e-4;
/// Pitch: in semitones up to MIDI 96 (2.1 kHz, YIN lags of 14 samples and more). Above, the
/// period is a lag of a few samples, where the refining parabola turns float rounding into
/// tenths of a semitone, so there the period (in samples) is compared.
const PITCH_TOLERANCE: f32 = 0.01;
const HIGH_NOTE: f32 = 96.0;
const HIGH_PERIOD_TOLERANCE: f32 = 0.2;

/// The YIN period in samples at 30 kHz of a MIDI note.
fn period(note: f32) -> f32 {
    30_000.0 / (440.0 * 2f32.powf((note - 69.0) / 12.0))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audio")
}

fn read_wav(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("the fixture WAV");
    assert_eq!(reader.spec().sample_rate, 30_000, "{}", path.display());
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a sample")) / 32768.0)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

/// The largest difference over a signal, and where it was.
#[derive(Debug, Default, Clone, Copy)]
struct Worst {
    diff: f32,
    hop: usize,
    ours: f32,
    theirs: f32,
}

impl Worst {
    fn see(&mut self, hop: usize, ours: f32, theirs: f32) {
        let diff = (ours - theirs).abs();
        if diff > self.diff || !diff.is_finite() {
            *self = Worst {
                diff: if diff.is_finite() {
                    diff
                } else {
                    f32::INFINITY
                },
                hop,
                ours,
                theirs,
            };
        }
    }
}

/// Results of one signal.
struct Compared {
    volume: Worst,
    mel: Worst,
    mel_filtered: Worst,
    powers: Worst,
    powers_raw: Worst,
    volume_beats: (usize, usize, usize),
    onsets: (usize, usize, usize),
    pitch: Worst,
    /// The period, in samples, above [`HIGH_NOTE`].
    high_pitch: Worst,
    /// Hops where one side has a pitch and the other none.
    voicing_differs: usize,
    /// Hops with an onset: ours, LedFx's.
    onset_hops: (Vec<usize>, Vec<usize>),
    last_bpm: (f32, f32),
}

/// Counts (ours, theirs, both within ±2 hops) of a per-hop flag.
fn flags(ours: &[bool], theirs: &[bool]) -> (usize, usize, usize) {
    let near = |list: &[bool], i: usize| {
        (i.saturating_sub(2)..=(i + 2).min(list.len() - 1)).any(|j| list[j])
    };
    let both = theirs
        .iter()
        .enumerate()
        .filter(|&(i, &t)| t && near(ours, i))
        .count();
    (
        ours.iter().filter(|&&b| b).count(),
        theirs.iter().filter(|&&b| b).count(),
        both,
    )
}

fn compare(name: &str) -> Compared {
    let samples = read_wav(&fixtures().join(format!("{name}.wav")));
    let text = std::fs::read_to_string(fixtures().join(format!("ledfx-2.2.1/{name}.json")))
        .expect("the LedFx fixture");
    let theirs: Value = serde_json::from_str(&text).expect("fixture JSON");
    let hops = theirs["hops"].as_u64().unwrap() as usize;
    assert_eq!(hops, samples.len() / HOP, "{name}: hop count");

    let mut analyzer = Analyzer::new(&AnalysisParams::default()).unwrap();
    let mut c = Compared {
        volume: Worst::default(),
        mel: Worst::default(),
        mel_filtered: Worst::default(),
        powers: Worst::default(),
        powers_raw: Worst::default(),
        volume_beats: (0, 0, 0),
        onsets: (0, 0, 0),
        onset_hops: (Vec::new(), Vec::new()),
        pitch: Worst::default(),
        high_pitch: Worst::default(),
        voicing_differs: 0,
        last_bpm: (0.0, 0.0),
    };
    let (mut our_vbeats, mut our_onsets) = (Vec::new(), Vec::new());
    for (i, chunk) in samples.chunks_exact(HOP).enumerate() {
        let hop: &[f32; HOP] = chunk.try_into().unwrap();
        let f = analyzer.process(hop);
        // ledfx-rs hands effects the volume clamped to 0..1; LedFx's filter starts at −90, so
        // its first frame can be slightly negative (docs/compatibility.md).
        let their_volume = (theirs["volume"][i].as_f64().unwrap() as f32).clamp(0.0, 1.0);
        c.volume.see(i, f.volume, their_volume);
        for bank in 0..3 {
            for (kind, worst, filtered) in [
                ("mel", &mut c.mel, false),
                ("mel_filtered", &mut c.mel_filtered, true),
            ] {
                let row = floats(&theirs[kind][i][bank]);
                for (&o, &t) in f.melbank(bank, filtered).iter().zip(&row) {
                    worst.see(i, o, t);
                }
            }
        }
        for (&o, &t) in f.powers.iter().zip(&floats(&theirs["powers"][i])) {
            c.powers.see(i, o, t);
        }
        for (&o, &t) in f.raw_powers.iter().zip(&floats(&theirs["powers_raw"][i])) {
            c.powers_raw.see(i, o, t);
        }
        our_vbeats.push(f.volume_beat != 0);
        our_onsets.push(f.onset != 0);
        c.last_bpm = (f.bpm, theirs["bpm"][i].as_f64().unwrap() as f32);
        let their_pitch = theirs["pitch"][i].as_f64().unwrap() as f32;
        if their_pitch <= HIGH_NOTE {
            c.pitch.see(i, f.pitch, their_pitch);
        } else {
            c.high_pitch.see(i, period(f.pitch), period(their_pitch));
        }
        if (f.pitch > 0.0) != (their_pitch > 0.0) {
            c.voicing_differs += 1;
        }
    }
    let list = |key: &str| -> Vec<bool> {
        theirs[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect()
    };
    c.volume_beats = flags(&our_vbeats, &list("volume_beat"));
    let at = |v: &[bool]| -> Vec<usize> {
        v.iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(i, _)| i)
            .collect()
    };
    if at(&our_vbeats) != at(&list("volume_beat")) {
        println!(
            "{name}: volume beats at ours {:?}, LedFx {:?}",
            at(&our_vbeats),
            at(&list("volume_beat"))
        );
    }
    c.onsets = flags(&our_onsets, &list("onset"));
    c.onset_hops = (at(&our_onsets), at(&list("onset")));
    if at(&our_onsets) != at(&list("onset")) {
        println!(
            "{name}: onsets at ours {:?}, LedFx {:?}",
            at(&our_onsets),
            at(&list("onset"))
        );
    }
    println!(
        "{name}: volume {:?}\n  mel {:?}\n  mel_filtered {:?}\n  powers {:?}\n  powers_raw {:?}\n  \
         volume beats ours/theirs/matched {:?}, onsets {:?}, last BPM ours {:.2} theirs {:.2}\n  \
         pitch {:?}, period above MIDI 96 {:?}, voicing differs on {} hops",
        c.volume, c.mel, c.mel_filtered, c.powers, c.powers_raw, c.volume_beats, c.onsets,
        c.last_bpm.0, c.last_bpm.1, c.pitch, c.high_pitch, c.voicing_differs
    );
    c
}

fn assert_close(name: &str, what: &str, worst: Worst, tolerance: f32) {
    assert!(
        worst.diff <= tolerance,
        "{name}: {what} differs from LedFx by {} at hop {} (ours {}, LedFx {}); tolerance {tolerance}",
        worst.diff,
        worst.hop,
        worst.ours,
        worst.theirs
    );
}

#[test]
fn volume_melbanks_powers_onsets_and_pitch_match_ledfx() {
    for name in ["sine440", "kick120", "sweep", "noise", "fade", "silence"] {
        let c = compare(name);
        assert_close(name, "volume", c.volume, VOLUME_TOLERANCE);
        assert_close(name, "melbank", c.mel, MEL_TOLERANCE);
        assert_close(name, "filtered melbank", c.mel_filtered, MEL_TOLERANCE);
        assert_close(name, "frequency power", c.powers, POWER_TOLERANCE);
        assert_close(name, "raw frequency power", c.powers_raw, POWER_TOLERANCE);
        // The volume beat reads melbank 0 and the clock: every LedFx beat within two hops
        // (LedFx measures its 0.1 s rest in wall-clock time, ledfx-rs in hops).
        let (_, theirs, matched) = c.volume_beats;
        assert_eq!(
            matched, theirs,
            "{name}: volume beats LedFx has that ledfx-rs misses"
        );
        // aubio's hfc onsets: on exactly the same hops.
        assert_eq!(
            c.onset_hops.0, c.onset_hops.1,
            "{name}: onset hops, ours vs LedFx's"
        );
        // aubio's yinfft pitch: voiced on the same hops, the same note.
        assert_eq!(
            c.voicing_differs, 0,
            "{name}: hops with a pitch on one side only"
        );
        assert_close(name, "pitch", c.pitch, PITCH_TOLERANCE);
        assert_close(
            name,
            "pitch period above MIDI 96",
            c.high_pitch,
            HIGH_PERIOD_TOLERANCE,
        );
    }
}

#[test]
fn the_tempo_of_the_kick_track_is_ledfx_s() {
    let c = compare("kick120");
    assert!(
        (c.last_bpm.0 - c.last_bpm.1).abs() < 2.0,
        "BPM after 10 s: ours {}, LedFx {}",
        c.last_bpm.0,
        c.last_bpm.1
    );
}

#[test]
fn every_coefficient_type_builds_ledfx_s_melbanks() {
    let samples = read_wav(&fixtures().join("sweep.wav"));
    for (name, _) in audio_proc::melbank::CoeffsType::ALL {
        let file = if name == "matt_mel" {
            "sweep.json".to_owned()
        } else {
            format!("sweep.{name}.json")
        };
        let text = std::fs::read_to_string(fixtures().join("ledfx-2.2.1").join(&file))
            .expect("the LedFx fixture");
        let theirs: Value = serde_json::from_str(&text).expect("fixture JSON");
        let spec = proto::pipeline::AudioSpec {
            coeffs_type: name.to_owned(),
            ..proto::pipeline::AudioSpec::default()
        };
        let mut analyzer = Analyzer::new(&AnalysisParams::from_spec(&spec).unwrap()).unwrap();
        // The reported centre frequencies (they pick the powers' and the volume beat's bins).
        let first = *analyzer.process(&[0.0; HOP]);
        for bank in 0..3 {
            let centres: Vec<f32> = floats(&theirs["melbank_frequencies"][bank]);
            assert_eq!(
                &first.mel_centre_hz[bank][..centres.len()],
                centres.as_slice(),
                "{name}: centre frequencies of melbank {bank}"
            );
        }
        // A fresh analysis for the sweep, so the silent hop above does not shift it.
        let mut analyzer = Analyzer::new(&AnalysisParams::from_spec(&spec).unwrap()).unwrap();
        let mut worst = Worst::default();
        for (i, chunk) in samples.chunks_exact(HOP).enumerate() {
            let f = analyzer.process(chunk.try_into().unwrap());
            for bank in 0..3 {
                for (&o, &t) in f
                    .melbank(bank, false)
                    .iter()
                    .zip(&floats(&theirs["mel"][i][bank]))
                {
                    worst.see(i, o, t);
                }
            }
        }
        println!("{name}: melbanks {worst:?}");
        assert_close(name, "melbank", worst, MEL_TOLERANCE);
    }
}
