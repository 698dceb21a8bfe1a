//! Command-line options of `ledfx-rs`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use proto::pipeline::AudioSource;

/// An audio-reactive LED controller, API-compatible with LedFx 2.x.
#[derive(Debug, Clone, Parser)]
#[command(name = "ledfx-rs", version, about)]
pub struct Cli {
    /// Address to listen on (default: `host` from config.json, else 0.0.0.0).
    #[arg(long)]
    pub host: Option<String>,
    /// HTTP port (default: `port` from config.json, else 8888).
    #[arg(long)]
    pub port: Option<u16>,
    /// Directory holding config.json (default: ~/.ledfx-rs).
    #[arg(long, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Audio source. `default`: the device stored in config.json (`audio.audio_device`), else
    /// the system's default input, else silence ("no capture device" in /api/info). `auto`:
    /// the same, but the built-in 120 BPM synth when there is no capture device at all.
    /// Or one source for this run: device:NAME, file:PATH.wav,
    /// stdin[:f32|s16[:RATE[:CHANNELS]]], synth or none.
    #[arg(long, value_name = "SPEC", default_value = "default", value_parser = parse_audio)]
    pub audio: AudioSource,
    /// More logging: -v for debug, -vv for trace.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

fn parse_audio(s: &str) -> Result<AudioSource, String> {
    s.parse()
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Cli {
    /// The config directory, defaulting to `~/.ledfx-rs`.
    pub fn config_dir(&self) -> PathBuf {
        self.config_dir.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".ledfx-rs")
        })
    }

    /// The log filter the verbosity asks for.
    pub fn log_filter(&self) -> &'static str {
        match self.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let cli = Cli::try_parse_from([
            "ledfx-rs",
            "--port",
            "9000",
            "--audio",
            "synth",
            "-vv",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.port, Some(9000));
        assert_eq!(cli.audio, AudioSource::Synth);
        assert_eq!(cli.log_filter(), "trace");
        assert_eq!(cli.log_format, LogFormat::Json);
        let err = Cli::try_parse_from(["ledfx-rs", "--audio", "mic"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown audio source"), "{err}");
    }
}
