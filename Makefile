# make test runs everything CI runs: formatting, vet, staticcheck, the race
# tests (browser tests included where Chromium is installed) and short fuzz runs.
GO ?= go
FUZZTIME ?= 5s

.PHONY: test check unit fuzz bench run

test: check unit fuzz

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

fuzz:
	$(GO) test -run=NONE -fuzz=FuzzParseClientFrame -fuzztime=$(FUZZTIME) ./widget
	$(GO) test -run=NONE -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./widget/story
	$(GO) test -run=NONE -fuzz=FuzzVerify -fuzztime=$(FUZZTIME) ./identity
	$(GO) test -run=NONE -fuzz=FuzzParseDevice -fuzztime=$(FUZZTIME) ./identity

bench:
	$(GO) test -run=NONE -bench=. -benchmem ./...

run:
	$(GO) run .
