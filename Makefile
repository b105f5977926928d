# make test runs everything CI runs: formatting, vet, staticcheck, the race
# tests (browser tests included where Chromium is installed) and short fuzz runs.
GO ?= go
FUZZTIME ?= 5s

.PHONY: test check unit size fuzz bench run

test: check unit size fuzz

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

# size reports the gzipped bytes of widget.js as served (budget 15 KB).
size:
	@out=$$($(GO) test -count=1 -run '^TestBrowser_WidgetGzipSize$$' -v ./server 2>&1); status=$$?; \
	  echo "$$out" | grep -E 'widget.js:|FAIL|panic' || echo "$$out"; exit $$status

# fuzz runs every Fuzz target in the tree for FUZZTIME each.
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
