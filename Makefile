# make test runs everything CI runs: formatting, vet, staticcheck, the race
# tests (browser tests included where Chromium is installed) and short fuzz runs.
GO ?= go
FUZZTIME ?= 10000x

.PHONY: test setup check unit size fuzz bench run

test: setup check unit size fuzz

# setup installs what the browser tests need where it can: Chromium through
# apt-get when running as root, axe-core (pinned by server/testdata's lock
# file) through npm. Where it cannot, the browser tests skip and say what to
# install, except under CI=true, where they fail.
setup:
	@$(GO) mod download
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo 'setup: installing chromium with apt-get'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo 'setup: no chromium (apt-get install -y chromium): the browser tests will skip'; fi; \
	fi
	@if [ ! -f server/testdata/node_modules/axe-core/axe.min.js ]; then \
	  if command -v npm >/dev/null 2>&1; then \
	    npm ci --prefix server/testdata --no-audit --no-fund --loglevel=error; \
	  elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo 'setup: installing npm with apt-get'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	    npm ci --prefix server/testdata --no-audit --no-fund --loglevel=error; \
	  else echo 'setup: no npm (apt-get install -y npm): the accessibility test will skip'; fi; \
	fi

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

# size reports the gzipped bytes of widget.js as served (budget 15 KB).
size:
	@out=$$($(GO) test -count=1 -run '^TestBrowser_WidgetGzipSize$$' -v ./server 2>&1); status=$$?; \
	  echo "$$out" | grep -E 'widget.js:|FAIL|panic' || echo "$$out"; exit $$status

# fuzz runs every Fuzz target in the tree for FUZZTIME each: a number of
# executions by default, not a duration, because Go before 1.27 can fail a
# duration-bounded run with "context deadline exceeded" at its end, with no
# failing input (go.dev/issue/75804).
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz $$t ($$(dirname $$f))"; \
	    $(GO) test -run=NONE -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f); \
	  done; \
	done

bench:
	$(GO) test -run=NONE -bench=. -benchmem ./...

run:
	$(GO) run .
