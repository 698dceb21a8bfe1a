# ledfx-rs — the two commands: `make run` and `make test`.
#
# Both install the Debian packages the build and the tests need (when missing), so they work
# on a fresh Debian machine with the Rust toolchain.

CARGO ?= cargo
# Build: ALSA headers for cpal. Tests: a PulseAudio daemon with a null sink for real capture.
DEB_PACKAGES := libasound2-dev pkg-config pulseaudio pulseaudio-utils alsa-utils libasound2-plugins
ARGS ?=

.PHONY: deps build run test unit e2e lint bench clean-bench ledfx-reference diff-ledfx record-ws record-audio

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(CARGO) build --release --workspace --bins

# Starts ledfx-rs on port 8888 with the config in ~/.ledfx-rs, capturing the chosen or default
# audio input, or playing the built-in synth where there is none. Extra options:
# make run ARGS="--audio synth".
run: build
	./target/release/ledfx-rs --audio auto $(ARGS)

test: deps lint unit e2e

# Stage binaries must exist before any test runs them (tests find them next to ledfx-rs).
unit:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --exclude e2e-tests

# End-to-end tests measure frame timing, so they run one at a time. The binaries are built
# with the fault-injection features some tests use (release builds never have them).
e2e:
	$(CARGO) build --workspace --bins --features render-proc/failpoints,supervisor/failpoints
	$(CARGO) test -p e2e-tests -- --test-threads=1 --nocapture

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	# The pure parts the supervisor links (validation, schemas, claims) build on their own.
	$(CARGO) clippy -p render-proc -p output-proc --no-default-features --all-targets -- -D warnings

# End-to-end benchmark of the release build; results in target/bench/.
bench: build
	./target/release/ledfx-rs-bench $(ARGS)

# LedFx 2.2.1, the reference ledfx-rs is compared against, in a venv outside the repository.
LEDFX_VENV ?= $(HOME)/.cache/ledfx-rs/ledfx-2.2.1
ledfx-reference:
	@dpkg -s libportaudio2 >/dev/null 2>&1 || { \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		$$sudo apt-get install -y -qq --no-install-recommends libportaudio2; }
	@test -x $(LEDFX_VENV)/bin/ledfx || { \
		python3 -m venv $(LEDFX_VENV) && $(LEDFX_VENV)/bin/pip install -q ledfx==2.2.1; }

# Sends the same requests to LedFx 2.2.1 and ledfx-rs and reports every difference
# (target/ledfx-diff.md). Runs in its own network namespace, loopback only, so LedFx's
# discovery and update checks reach nothing.
diff-ledfx: ledfx-reference
	$(CARGO) build --workspace --bins
	unshare --user --map-root-user --net sh -c 'ip link set lo up && ./target/debug/ledfx-rs-diff --ledfx $(LEDFX_VENV)/bin/ledfx $(ARGS)'

# Records what LedFx 2.2.1 sends over its WebSocket for tests/fixtures/ws/script.json.
record-ws: ledfx-reference
	$(CARGO) build -p e2e-tests --bins
	unshare --user --map-root-user --net sh -c 'ip link set lo up && ./target/debug/ledfx-rs-diff --ledfx $(LEDFX_VENV)/bin/ledfx --record-ws tests/fixtures/ledfx-2.2.1/websocket.json'

# Records LedFx 2.2.1's own analysis of tests/fixtures/audio/*.wav, hop by hop, into
# tests/fixtures/audio/ledfx-2.2.1/ (audio-proc/tests/ledfx_fidelity.rs compares against it).
# The WAVs come from tools/ledfx-analysis/signals.py; regenerate them there when changing.
record-audio: ledfx-reference
	$(LEDFX_VENV)/bin/python tools/ledfx-analysis/record.py tests/fixtures/audio
