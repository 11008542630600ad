# thorp's build. `make run` builds and supervises the repo's thorp.lua;
# `make test` is everything CI checks.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin/thorp

.PHONY: build run test test-deps bench-deps vet fmt-check staticcheck tidy-check layout-check lint check-examples bench compare fuzz fuzz-short soak release clean

# staticcheck, pinned; fetched through the Go module proxy on first use.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/thorp

run: build
	./$(BIN) run -c thorp.lua

# What the tests need beyond Go, from Debian's packages: tmux (monit in a real
# terminal), setpriv (util-linux: thorp run as an unprivileged user),
# chromium (the dashboard's browser test) and prometheus (promtool and a real
# Prometheus scraping thorp: examples/observability; installed without its
# recommended node exporter, a service of its own; about 100 MB, 10 s).
# Installed when missing and running as root (CI). On a developer machine
# without them, the tmux and setpriv tests skip, saying so; the browser and
# Prometheus tests fail, naming this target.
TEST_DEPS := tmux:tmux setpriv:util-linux chromium:chromium
TEST_DEPS_NO_RECOMMENDS := promtool:prometheus
test-deps:
	@$(call apt-install-missing,$(TEST_DEPS),)
	@$(call apt-install-missing,$(TEST_DEPS_NO_RECOMMENDS),--no-install-recommends)

# apt-install-missing installs the Debian package of each command:package
# in $(1) whose command is missing, with apt-get options $(2).
define apt-install-missing
missing=""; for d in $(1); do command -v $${d%%:*} >/dev/null || missing="$$missing $${d##*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing; \
		else echo "test-deps: missing$$missing (install them from Debian's packages, or run this target as root; see TEST_DEPS in the Makefile)"; fi; \
	fi
endef

test: lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) check-examples
	$(MAKE) fuzz-short

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# go.mod and go.sum say exactly what the code imports.
tidy-check:
	$(GO) mod tidy -diff

# The import rules of the layout (README, Layout): policies and rotate are
# leaves, and nothing under engine/ depends on plugins or the CLI.
MOD := github.com/thorp-dev/thorp
layout-check:
	@set -e; \
	for p in policies rotate; do \
		bad=$$($(GO) list -deps ./$$p | grep '^$(MOD)/' | grep -v "^$(MOD)/$$p" || true); \
		if [ -n "$$bad" ]; then echo "$$p must import no other thorp package, imports: $$bad"; exit 1; fi; \
	done; \
	bad=$$($(GO) list -deps ./engine/... | grep -e '^$(MOD)/plugins' -e '^$(MOD)/cmd/' || true); \
	if [ -n "$$bad" ]; then echo "engine/ must not depend on: $$bad"; exit 1; fi

lint: vet fmt-check staticcheck tidy-check layout-check

# Every shipped config must pass the preflight.
check-examples: build
	@set -e; for f in thorp.lua examples/*.lua examples/*/thorp.lua; do \
		[ -f "$$f" ] || continue; \
		echo "thorp check -c $$f"; ./$(BIN) check -c $$f; \
	done

# Benchmarks behind the figures in the issues; BENCHTIME=3x for a quick pass.
BENCHTIME ?= 1x
# The benchmarks' reference programs, from Debian: HAProxy beside the
# balancer (BenchmarkProxyThroughput).
BENCH_DEPS := haproxy:haproxy

bench-deps:
	@$(call apt-install-missing,$(BENCH_DEPS),)

bench: bench-deps
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 30m ./...

# Side by side with PM2 and supervisord (docs/benchmarks.md, "Comparison"),
# not part of test or bench: compare/install.sh installs PM2 (npm) and
# supervisord (Debian's package, unpacked) into a temporary directory, which
# is removed afterwards; then the same workloads run on the three and one
# table of ratios is printed. About 6 minutes; loopback only.
compare: build
	@dir=$$(mktemp -d /tmp/thorp-compare.XXXXXX) && trap 'rm -rf "$$dir"' EXIT INT TERM && \
	sh compare/install.sh "$$dir" && \
	$(GO) build -o "$$dir/compare" ./compare && \
	"$$dir/compare" -thorp $(BIN) -tools "$$dir"

# Fuzz targets (package:target), each run alone: go test -fuzz takes one
# target per invocation. `make fuzz FUZZTIME=5m` for a longer run; CI runs
# fuzz-short (3s each). Crashers land in the package's testdata/fuzz/ and
# fail the run. A bare "context deadline exceeded" with no failing input is
# Go's own coordinator racing -fuzztime under load (golang/go#75804, fixed
# in Go 1.27): it is reported and the target is run once more.
FUZZ_TARGETS := ./plugins:FuzzLoad ./engine/api:FuzzHandler ./engine/sdnotify:FuzzParseMessage \
	./rotate:FuzzFrame ./engine:FuzzLoadState
FUZZTIME ?= 1m
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		for try in 1 2; do \
			echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
			if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg >$$out 2>&1; then \
				tail -n 1 $$out; break; fi; \
			if [ $$try = 1 ] && grep -q 'context deadline exceeded' $$out && ! grep -q 'Failing input written' $$out; then \
				echo "$$name: Go's fuzz coordinator hit its -fuzztime race (golang/go#75804); running it again"; continue; fi; \
			cat $$out; exit 1; \
		done; \
	done

fuzz-short:
	$(MAKE) fuzz FUZZTIME=3s

# The soak benchmark (docs/benchmarks.md): a real `thorp run` of 50 crashing
# and 5 leaking components with rotating logs, scraped every second; fails
# when RSS, goroutines or fds grow after warm-up. SOAK=1m for a short run.
SOAK ?= 10m
soak:
	THORP_SOAK=$(SOAK) $(GO) test -run '^$$' -bench '^BenchmarkSoak$$' -benchtime 1x -timeout 0 ./cmd/thorp

release:
	@mkdir -p dist
	for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/thorp-linux-$$arch ./cmd/thorp; \
	done

clean:
	rm -rf bin dist
