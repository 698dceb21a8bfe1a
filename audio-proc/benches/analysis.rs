//! `cargo bench -p audio-proc`: the cost of one analysis hop (500 samples at 30 kHz: the
//! melbank vocoder, three melbanks, powers, the volume beat, aubio's hfc onset with its own
//! vocoder, yinfft pitch with its two transforms, and the tempo estimate), on music-like
//! input (the 120 BPM kick fixture, looped).
//!
//! A plain timing loop (no harness): 20 rounds of 600 hops; it prints the median and the
//! fastest round per hop. One hop of audio lasts 16.7 ms, so the figure is also the share
//! of one core the analysis needs (per hop µs / 16 667).

use std::time::Instant;

use audio_proc::{AnalysisParams, Analyzer, HOP};

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/audio/kick120.wav"
    );
    let samples: Vec<f32> = hound::WavReader::open(path)
        .expect("the kick fixture")
        .samples::<i16>()
        .map(|s| f32::from(s.expect("a sample")) / 32768.0)
        .collect();
    let hops: Vec<[f32; HOP]> = samples
        .chunks_exact(HOP)
        .map(|c| c.try_into().expect("a hop"))
        .collect();
    let mut analyzer = Analyzer::new(&AnalysisParams::default()).expect("default settings");
    // Warm up: fill the windows and the filters.
    for hop in &hops {
        std::hint::black_box(analyzer.process(hop));
    }
    let mut per_hop_us: Vec<f64> = (0..20)
        .map(|_| {
            let start = Instant::now();
            for hop in &hops {
                std::hint::black_box(analyzer.process(hop));
            }
            start.elapsed().as_secs_f64() * 1e6 / hops.len() as f64
        })
        .collect();
    per_hop_us.sort_by(f64::total_cmp);
    let median = per_hop_us[per_hop_us.len() / 2];
    println!(
        "analysis hop: median {median:.1} µs, fastest {:.1} µs ({:.2} % of a core at 60 hops/s)",
        per_hop_us[0],
        median / 16_666.7 * 100.0
    );
}
