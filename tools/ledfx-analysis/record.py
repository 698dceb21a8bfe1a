"""Records LedFx 2.2.1's own audio analysis of WAV files, hop by hop, as test fixtures.

Run with the Python of a venv that has `ledfx==2.2.1` installed (see DEVELOPERS.md; PortAudio
must be installed, `apt-get install libportaudio2`, because LedFx imports sounddevice):

    $LEDFX_VENV/bin/python tools/ledfx-analysis/record.py tests/fixtures/audio

For every `<name>.wav` (30 kHz mono 16-bit) in the directory it writes
`ledfx-2.2.1/<name>.json` next to it: per hop the raw and filtered volume, the three melbanks
(unfiltered and filtered), the raw and filtered frequency powers, the volume beat, onset,
tempo beat, BPM, pitch and bar oscillator, with LedFx's default settings. For each other
melbank `coeffs_type` it also records the sweep's melbanks as `sweep.<type>.json`. ledfx-rs's analysis is compared against these in
`audio-proc/tests/ledfx_fidelity.rs`.

How: LedFx's `AudioAnalysisSource` is driven as LedFx drives it, with its audio input replaced
by a stand-in `sounddevice` module whose one "device" runs at 30 kHz (so LedFx does not
resample), and with its clock replaced by one that advances 1/60 s per hop (the volume beat
and the bar oscillator read the time). Every 500-sample block goes through LedFx's own
`_audio_sample_callback`; the recorder is subscribed last, so it reads what every analysis
step computed for that hop. Nothing of LedFx is copied: this script only calls it.
"""

import json
import subprocess
import sys
import types
import wave
from pathlib import Path

import numpy as np

import ledfx.effects.audio as audio

HOP = 500
RATE = 30000


class FakeClock:
    now = 1_000_000.0

    @classmethod
    def time(cls):
        return cls.now


class FakeStream:
    def __init__(self, **kwargs):
        self.callback = kwargs["callback"]
        self.active = False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def close(self):
        self.active = False


def fake_sounddevice():
    sd = types.SimpleNamespace()
    device = {
        "name": "fixture",
        "hostapi": 0,
        "max_input_channels": 1,
        "max_output_channels": 0,
        "default_samplerate": float(RATE),
    }
    sd.query_devices = lambda *a, **k: (device,)
    sd.query_hostapis = lambda *a, **k: ({"name": "ALSA", "devices": [0]},)
    sd.default = types.SimpleNamespace(device={"input": 0, "output": -1})
    sd.InputStream = FakeStream
    sd.PortAudioError = Exception
    return sd


class FakeEvents:
    def add_listener(self, *args, **kwargs):
        return lambda: None

    def fire_event(self, *args, **kwargs):
        pass


class FakeLedfx:
    def __init__(self):
        self.config = {"audio": {}, "melbanks": {}}
        self.events = FakeEvents()
        self.config_dir = "/nonexistent"

    def dev_enabled(self):
        return False


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE, f"{path}: expected {RATE} Hz"
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, f"{path}: expected mono 16-bit"
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def r(values):
    """Rounds to 7 significant digits (float32 precision) to keep the fixtures small."""
    return [float(f"{float(v):.7g}") for v in values]


def record(path, coeffs_type=None):
    audio.sd = fake_sounddevice()
    audio.time = FakeClock
    audio.AudioInputSource._audio_stream_active = False
    audio.AudioInputSource._stream = None
    ledfx = FakeLedfx()
    if coeffs_type:
        ledfx.config["melbanks"] = {"coeffs_type": coeffs_type}
    source = audio.AudioAnalysisSource(ledfx, {"audio_device": 0})
    out = {key: [] for key in (
        "volume_raw", "volume", "mel", "mel_filtered", "powers_raw", "powers",
        "volume_beat", "onset", "tempo_beat", "bpm", "pitch", "bar",
    )}

    def recorder():
        mb = source.melbanks
        out["volume_raw"].append(float(source.volume(filtered=False)))
        out["volume"].append(float(source.volume(filtered=True)))
        out["mel"].append([r(m) for m in mb.melbanks])
        out["mel_filtered"].append([r(m) for m in mb.melbanks_filtered])
        out["powers_raw"].append(r(source.freq_power_raw))
        out["powers"].append(r(source.freq_power_filter.value))
        out["volume_beat"].append(bool(source.volume_beat_now()))
        out["onset"].append(bool(source.onset()))
        out["tempo_beat"].append(bool(source.bpm_beat_now()))
        out["bpm"].append(float(source._tempo.get_bpm()))
        out["pitch"].append(float(source.pitch()))
        out["bar"].append(float(source.bar_oscillator()))

    source.subscribe(recorder)
    samples = read_wav(path)
    for start in range(0, len(samples) - HOP + 1, HOP):
        FakeClock.now += HOP / RATE
        block = np.ascontiguousarray(samples[start:start + HOP], dtype=np.float32)
        source._audio_sample_callback(block, HOP, None, None)
    source.unsubscribe(recorder)
    out["volume_raw"] = r(out["volume_raw"])
    out["volume"] = r(out["volume"])
    hops = len(out["volume"])
    if coeffs_type:
        # Only what the coefficient type changes: the melbanks (the filtered ones follow
        # from them through the same filters).
        out = {"mel": out["mel"]}
    return {
        "ledfx": "2.2.1",
        "signal": path.stem,
        "config": {"audio": ledfx.config.get("audio"), "melbanks": ledfx.config.get("melbanks")},
        "melbank_frequencies": [r(m.melbank_frequencies) for m in source.melbanks.melbank_processors],
        "hops": hops,
        **out,
    }


def main():
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--one":
        # One file per process: LedFx keeps analysis state in class attributes (the volume
        # filter among them), so a second file in the same process would not start fresh.
        coeffs_type = sys.argv[4] if len(sys.argv) == 5 else None
        result = record(Path(sys.argv[2]), coeffs_type)
        Path(sys.argv[3]).write_text(json.dumps(result, separators=(",", ":"), sort_keys=True) + "\n")
        print(f"{Path(sys.argv[3]).name}: {result['hops']} hops")
        return
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/audio")
    target = directory / "ledfx-2.2.1"
    target.mkdir(exist_ok=True)
    for wav in sorted(directory.glob("*.wav")):
        out = target / f"{wav.stem}.json"
        subprocess.run([sys.executable, __file__, "--one", str(wav), str(out)], check=True)
    # Every other melbank coefficient type, on the sweep (which walks through every band).
    for coeffs_type in ("triangle", "bark", "mel", "htk", "scott", "scott_mel"):
        out = target / f"sweep.{coeffs_type}.json"
        wav = directory / "sweep.wav"
        subprocess.run([sys.executable, __file__, "--one", str(wav), str(out), coeffs_type], check=True)


if __name__ == "__main__":
    main()
