//! The built-in test beat: 120 BPM at 44.1 kHz, a decaying low kick on every beat and a short
//! tone on every off-beat (alternating 660 Hz and 880 Hz).
//!
//! It exists so that an installation, a demo or an end-to-end test has audio-reactive output
//! without any capture device, and so that tests can rely on exactly known input: every sample
//! is a pure function of its index.

/// Sample rate of the synth, Hz.
pub const SYNTH_RATE: u32 = 44_100;
/// Tempo of the synth.
pub const SYNTH_BPM: f64 = 120.0;

/// Samples per beat (22 050 at 120 BPM).
const BEAT_SAMPLES: u64 = (SYNTH_RATE as f64 * 60.0 / SYNTH_BPM) as u64;
/// Kick: pitch falls from 45 + 75 Hz to 45 Hz with this time constant, s…
const KICK_PITCH_TAU: f64 = 0.03;
/// …and the level decays with this one, s.
const KICK_DECAY_TAU: f64 = 0.15;
const KICK_LEVEL: f64 = 0.9;
/// Off-beat tone: length, level and attack, s.
const TONE_SECONDS: f64 = 0.08;
const TONE_LEVEL: f64 = 0.25;
const TONE_ATTACK: f64 = 0.005;

/// A deterministic generator of the test beat.
#[derive(Debug, Clone, Default)]
pub struct Synth {
    /// Index of the next sample.
    next: u64,
}

impl Synth {
    /// A synth at the start of its first beat.
    pub fn new() -> Self {
        Self { next: 0 }
    }

    /// The sample with index `n` (at [`SYNTH_RATE`]).
    pub fn sample_at(n: u64) -> f32 {
        let rate = f64::from(SYNTH_RATE);
        let beat = n / BEAT_SAMPLES;
        let t = (n % BEAT_SAMPLES) as f64 / rate;
        let tau = std::f64::consts::TAU;
        // Kick: the phase is the integral of 45 + 75·e^(−t/τp).
        let phase = tau * (45.0 * t + 75.0 * KICK_PITCH_TAU * (1.0 - (-t / KICK_PITCH_TAU).exp()));
        let kick = KICK_LEVEL * (-t / KICK_DECAY_TAU).exp() * phase.sin();
        // Off-beat tone half a beat later.
        let half = BEAT_SAMPLES as f64 / rate / 2.0;
        let tt = t - half;
        let tone = if (0.0..TONE_SECONDS).contains(&tt) {
            let freq = if beat % 2 == 0 { 660.0 } else { 880.0 };
            let envelope = (tt / TONE_ATTACK).min(1.0) * (1.0 - tt / TONE_SECONDS);
            TONE_LEVEL * envelope * (tau * freq * tt).sin()
        } else {
            0.0
        };
        (kick + tone) as f32
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [f32]) {
        for s in out {
            *s = Self::sample_at(self.next);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beat_repeats_every_half_second_at_full_level() {
        let beat = BEAT_SAMPLES as usize;
        assert_eq!(beat, 22_050);
        let mut s = Synth::new();
        let mut buf = vec![0.0; 4 * beat];
        s.fill(&mut buf);
        // The kick part is identical on every beat; the tone alternates over two beats.
        for n in 0..beat {
            assert_eq!(buf[n], buf[n + 2 * beat]);
        }
        let peak = buf.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak > 0.5 && peak <= 1.0, "{peak}");
        // Loud right after each beat, quiet just before the next one.
        let rms = |r: std::ops::Range<usize>| {
            (buf[r.clone()].iter().map(|v| v * v).sum::<f32>() / r.len() as f32).sqrt()
        };
        assert!(rms(0..2000) > 10.0 * rms(beat - 2000..beat));
    }

    #[test]
    fn fill_continues_where_it_stopped() {
        let mut a = Synth::new();
        let mut whole = vec![0.0; 1000];
        a.fill(&mut whole);
        let mut b = Synth::new();
        let mut parts = vec![0.0; 1000];
        b.fill(&mut parts[..333]);
        b.fill(&mut parts[333..]);
        assert_eq!(whole, parts);
    }
}
