# The two commands a newcomer needs: `make compare` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
BIN := bin
CARGO ?= cargo
GO ?= go
RUST_BINS := rust-server loadgen harness rust-micro conformance
GO_BINS := go-server go-micro
PROFILE ?= quick
# HOSTS=hosts.toml runs the server and the load generators on other machines
# (README, "Two machines"); COPY_BINARIES=1 copies bin/ to them first.
HOSTS ?=
COPY_BINARIES ?=
HOSTS_FLAGS := $(if $(HOSTS),--hosts $(HOSTS)) $(if $(COPY_BINARIES),--copy-binaries)

.PHONY: all build build-rust build-go build-micro-unstable build-server-unstable test test-go test-rust test-conformance lint fmt compare report bench-loadgen clean

all: build

build: build-rust build-go build-micro-unstable build-server-unstable

build-rust:
	$(CARGO) build --release --locked --workspace --bins
	@mkdir -p $(BIN)
	@for b in $(RUST_BINS); do cp -f target/release/$$b $(BIN)/$$b; done

# tokio's `disable_lifo_slot` exists only under --cfg tokio_unstable: a second
# build of rust-micro, used for the lifo-wake microbenchmark alone.
build-micro-unstable:
	RUSTFLAGS="--cfg tokio_unstable" $(CARGO) build --release --locked -p rtc-micro --target-dir target/unstable
	@mkdir -p $(BIN)
	cp -f target/unstable/release/rust-micro $(BIN)/rust-micro-unstable

# The tokio server built the same way: its --telemetry adds tokio's unstable
# metrics and the schedule-latency histogram (rust/server/README.md says
# which trials use it).
build-server-unstable:
	RUSTFLAGS="--cfg tokio_unstable" $(CARGO) build --release --locked -p rtc-server --target-dir target/unstable
	@mkdir -p $(BIN)
	cp -f target/unstable/release/rust-server $(BIN)/rust-server-unstable

build-go:
	@mkdir -p $(BIN)
	@for b in $(GO_BINS); do (cd go && $(GO) build -trimpath -o ../$(BIN)/$$b ./cmd/$$b); done

# Go vet + tests, Rust tests, then both built servers against every shared vector.
test: build test-go test-rust test-conformance

test-go:
	cd go && $(GO) vet ./... && $(GO) test -count=1 ./...

test-rust: build
	RTC_BIN_DIR=$(CURDIR)/$(BIN) $(CARGO) test --locked --workspace

test-conformance: build
	$(BIN)/conformance --vectors testdata/protocol/vectors.json --bin-dir $(BIN)

lint:
	@out=$$(gofmt -l go); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	cd go && $(GO) vet ./...
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

fmt:
	gofmt -w go
	$(CARGO) fmt --all

# Build, run the quick profile, write the report, print the verdicts. The
# report is written for whatever the run finished, also when some trials
# failed or it was interrupted; then make exits with the run's status (or
# the report's, if only that failed). `harness run` prints its results
# directory on stdout (progress goes to stderr).
compare: build
	@status=0; dir=$$($(BIN)/harness run --profile $(PROFILE) $(HOSTS_FLAGS)) || status=$$?; \
	if [ -n "$$dir" ] && [ -f "$$dir/summary.json" ]; then \
	  $(BIN)/harness report "$$dir" || { rs=$$?; [ $$status -ne 0 ] || status=$$rs; }; \
	else \
	  echo "make compare: the run wrote no results (exit $$status), so there is no report" >&2; \
	  [ $$status -ne 0 ] || status=1; \
	fi; \
	exit $$status

report:
	$(BIN)/harness report results/latest

bench-loadgen: build
	rust/loadgen/bench/bench-loadgen.sh results/bench-loadgen

clean:
	rm -rf $(BIN) target
