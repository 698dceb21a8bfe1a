//! The `file:PATH.wav` source: a WAV file mixed to mono, looped forever, delivered in real
//! time.
//!
//! The file is streamed, not loaded whole, so a long recording costs no memory; at its end the
//! file is reopened (simpler and more robust than seeking, which hound gets wrong for padded
//! sample containers). An unreadable file is logged once and the stage carries on in silence —
//! exiting would only make the supervisor restart us into the same error.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{run_paced, FeedSender};

/// Errors reading a WAV file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("opening WAV file {path:?}: {source}")]
    OpenWav { path: PathBuf, source: hound::Error },
    #[error("reading WAV file {path:?}: {source}")]
    ReadWav { path: PathBuf, source: hound::Error },
    #[error("WAV file {path:?} has no samples")]
    ReadEmpty { path: PathBuf },
    #[error("WAV file {path:?} has an unusable format ({channels} channels at {rate} Hz)")]
    OpenFormat {
        path: PathBuf,
        channels: u16,
        rate: u32,
    },
}

/// A looping, mono-mixing WAV reader.
pub struct WavLoop {
    path: PathBuf,
    reader: hound::WavReader<BufReader<File>>,
    spec: hound::WavSpec,
    /// Scale from integer samples to −1..1.
    int_scale: f32,
    /// Whether anything was read since the last rewind (an empty file would loop forever).
    read_since_rewind: bool,
}

impl std::fmt::Debug for WavLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavLoop")
            .field("path", &self.path)
            .field("spec", &self.spec)
            .finish()
    }
}

impl WavLoop {
    /// Opens `path` and checks its format.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let reader = hound::WavReader::open(path).map_err(|source| FileError::OpenWav {
            path: path.to_owned(),
            source,
        })?;
        let spec = reader.spec();
        if spec.channels == 0 || spec.sample_rate == 0 {
            return Err(FileError::OpenFormat {
                path: path.to_owned(),
                channels: spec.channels,
                rate: spec.sample_rate,
            });
        }
        let bits = u32::from(spec.bits_per_sample.clamp(1, 32));
        Ok(Self {
            path: path.to_owned(),
            reader,
            spec,
            int_scale: 1.0 / (1u64 << (bits - 1)) as f32,
            read_since_rewind: false,
        })
    }

    /// Sample rate of the file, Hz.
    pub fn rate(&self) -> u32 {
        self.spec.sample_rate
    }

    /// Fills `out` with the next mono samples, wrapping around at the end of the file.
    pub fn fill(&mut self, out: &mut [f32]) -> Result<(), FileError> {
        let mut filled = 0;
        while filled < out.len() {
            let got = self.read_frames(&mut out[filled..])?;
            filled += got;
            self.read_since_rewind |= got > 0;
            if filled < out.len() {
                if !self.read_since_rewind {
                    return Err(FileError::ReadEmpty {
                        path: self.path.clone(),
                    });
                }
                self.reader =
                    hound::WavReader::open(&self.path).map_err(|source| FileError::OpenWav {
                        path: self.path.clone(),
                        source,
                    })?;
                self.read_since_rewind = false;
            }
        }
        Ok(())
    }

    /// Reads whole frames into `out` until it is full or the file ends; returns how many.
    fn read_frames(&mut self, out: &mut [f32]) -> Result<usize, FileError> {
        let channels = usize::from(self.spec.channels);
        let gain = 1.0 / channels as f32;
        let scale = self.int_scale;
        let path = &self.path;
        let wrap = |source| FileError::ReadWav {
            path: path.clone(),
            source,
        };
        let mut n = 0;
        match self.spec.sample_format {
            hound::SampleFormat::Float => {
                let mut samples = self.reader.samples::<f32>();
                'frames: while n < out.len() {
                    let mut acc = 0.0;
                    for _ in 0..channels {
                        match samples.next() {
                            Some(s) => acc += s.map_err(wrap)?,
                            None => break 'frames,
                        }
                    }
                    out[n] = acc * gain;
                    n += 1;
                }
            }
            hound::SampleFormat::Int => {
                let mut samples = self.reader.samples::<i32>();
                'frames: while n < out.len() {
                    let mut acc = 0.0;
                    for _ in 0..channels {
                        match samples.next() {
                            Some(s) => acc += s.map_err(wrap)? as f32 * scale,
                            None => break 'frames,
                        }
                    }
                    out[n] = acc * gain;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// Runs the file source until `stop`: real-time delivery of the looped file, or (when the
/// file cannot be used) nothing, after logging why.
pub(crate) fn run(path: &str, feeds: &FeedSender, stop: &AtomicBool) {
    let mut wav = match WavLoop::open(Path::new(path)) {
        Ok(wav) => wav,
        Err(err) => {
            tracing::error!(error = %err, "audio file source unusable; publishing silence");
            return;
        }
    };
    tracing::info!(
        path,
        rate = wav.rate(),
        channels = wav.spec.channels,
        "playing WAV file in a loop"
    );
    let mut failed = false;
    run_paced(
        wav.rate(),
        |out| {
            if failed {
                out.fill(0.0);
            } else if let Err(err) = wav.fill(out) {
                // Logged once; the rest of the run is silence.
                tracing::error!(error = %err, "audio file source failed; publishing silence");
                failed = true;
                out.fill(0.0);
            }
        },
        feeds,
        stop,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn temp_path(name: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("audio-proc-{}-{n}-{name}", std::process::id()))
    }

    fn write_stereo_ramp(path: &Path, frames: i32) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames {
            // Left i·100, right −i·50: the mono mix is i·25.
            w.write_sample((i * 100) as i16).unwrap();
            w.write_sample((-i * 50) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn a_short_stereo_wav_is_mixed_to_mono_and_loops() {
        let path = temp_path("ramp.wav");
        write_stereo_ramp(&path, 10);
        let mut wav = WavLoop::open(&path).unwrap();
        assert_eq!(wav.rate(), 8000);
        let mut out = vec![0.0; 25];
        wav.fill(&mut out).unwrap();
        let expected: Vec<f32> = (0..25).map(|i| ((i % 10) * 25) as f32 / 32768.0).collect();
        for (o, e) in out.iter().zip(&expected) {
            assert!((o - e).abs() < 1e-6, "{out:?}");
        }
        // Continues mid-loop on the next call.
        let mut more = vec![0.0; 5];
        wav.fill(&mut more).unwrap();
        assert!((more[0] - 5.0 * 25.0 / 32768.0).abs() < 1e-6);
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn float_wavs_are_read_as_is() {
        let path = temp_path("float.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for s in [0.5f32, -0.25, 0.125] {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        let mut wav = WavLoop::open(&path).unwrap();
        let mut out = vec![0.0; 4];
        wav.fill(&mut out).unwrap();
        assert_eq!(out, [0.5, -0.25, 0.125, 0.5]);
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn missing_and_empty_files_are_errors_not_hangs() {
        assert!(matches!(
            WavLoop::open(Path::new("/nonexistent/x.wav")),
            Err(FileError::OpenWav { .. })
        ));
        let path = temp_path("empty.wav");
        write_stereo_ramp(&path, 0);
        let mut wav = WavLoop::open(&path).unwrap();
        assert!(matches!(
            wav.fill(&mut [0.0; 4]),
            Err(FileError::ReadEmpty { .. })
        ));
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn the_file_source_delivers_the_loop_through_a_feed() {
        let path = temp_path("feed.wav");
        write_stereo_ramp(&path, 10);
        let (feeds, rx) = FeedSender::channel();
        let source = proto::pipeline::AudioSource::File(path.to_string_lossy().into_owned());
        let handle = super::super::SourceHandle::start(&source, feeds).unwrap();
        let feed = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("feed opened");
        assert_eq!(feed.rate, 8000);
        let mut consumer = feed.samples;
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while got.len() < 30 && std::time::Instant::now() < deadline {
            while let Ok(s) = consumer.pop() {
                got.push(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(got.len() >= 30);
        for (i, s) in got.iter().take(30).enumerate() {
            assert!((s - ((i % 10) * 25) as f32 / 32768.0).abs() < 1e-6);
        }
        drop(handle);
        std::fs::remove_file(path).ok();
    }
}
