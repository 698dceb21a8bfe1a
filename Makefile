# ledfx-rs — the two commands: `make run` and `make test`.
#
# Both install the Debian packages the build and the tests need (when missing), so they work
# on a fresh Debian machine with the Rust toolchain.

CARGO ?= cargo
# Build: ALSA headers for cpal. Tests: a PulseAudio daemon with a null sink for real capture.
DEB_PACKAGES := libasound2-dev pkg-config pulseaudio pulseaudio-utils alsa-utils libasound2-plugins
ARGS ?=

.PHONY: deps build run test unit e2e lint bench clean-bench

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

# Starts ledfx-rs on port 8888 with the config in ~/.ledfx-rs. Extra options: make run ARGS="--audio synth".
run: build
	./target/release/ledfx-rs $(ARGS)

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
