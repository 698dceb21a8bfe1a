"""Writes the test signals the analysis fixtures are recorded from (30 kHz mono 16-bit WAV).

    python3 tools/ledfx-analysis/signals.py tests/fixtures/audio

Deterministic (fixed seeds); the WAVs are committed, so this only needs running to change
them. Each signal has a known answer the Rust tests also check on their own:

* kick120  — 10 s: a kick (falling 150→50 Hz sine burst, 150 ms) on every beat at 120 BPM and
             a short noise hat between; onsets every 0.25 s, tempo 120 BPM.
* sine440  — 4 s: A4 at −6 dBFS; pitch MIDI 69, the energy in the 440 Hz melbank bins.
* sweep    — 6 s: logarithmic sweep 40 Hz → 12 kHz at −10 dBFS; the loudest bin walks up.
* noise    — 3 s: white noise at −20 dBFS; every bin lit, no pitch.
* fade     — 5 s: 440 Hz fading from −40 to −100 dBFS; the volume gate (min_volume 0.2 ≈
             −80 dBFS) closes part way.
* silence  — 2 s of zeros.
"""

import sys
import wave
from pathlib import Path

import numpy as np

RATE = 30000


def write(path, x):
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def t(seconds):
    return np.arange(int(seconds * RATE)) / RATE


def kick120():
    time = t(10)
    x = np.zeros_like(time)
    rng = np.random.default_rng(120)
    in_beat = time % 0.5
    kick = in_beat < 0.15
    f = 50 + 100 * np.exp(-in_beat * 30)
    phase = 2 * np.pi * np.cumsum(np.where(kick, f, 0)) / RATE
    x += np.where(kick, 0.8 * np.exp(-in_beat * 18) * np.sin(phase), 0)
    in_half = (time - 0.25) % 0.5
    hat = in_half < 0.03
    x += np.where(hat, 0.15 * np.exp(-in_half * 120) * rng.uniform(-1, 1, len(time)), 0)
    return x


def sine440():
    return 0.5 * np.sin(2 * np.pi * 440 * t(4))


def sweep():
    time = t(6)
    f0, f1, d = 40.0, 12000.0, 6.0
    k = np.log(f1 / f0)
    phase = 2 * np.pi * f0 * d / k * (np.exp(time / d * k) - 1)
    return 10 ** (-10 / 20) * np.sin(phase)


def noise():
    rng = np.random.default_rng(7)
    return 10 ** (-20 / 20) * rng.uniform(-1, 1, int(3 * RATE)) * np.sqrt(3)


def fade():
    time = t(5)
    db = -40 - 60 * time / 5
    return 10 ** (db / 20) * np.sin(2 * np.pi * 440 * time)


def silence():
    return np.zeros(int(2 * RATE))


def main():
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/audio")
    directory.mkdir(parents=True, exist_ok=True)
    for make in (kick120, sine440, sweep, noise, fade, silence):
        write(directory / f"{make.__name__}.wav", make())
        print(f"{make.__name__}.wav")


if __name__ == "__main__":
    main()
