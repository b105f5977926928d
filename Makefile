# make test runs everything CI runs: formatting, vet, staticcheck, the race
# tests (browser tests included where Chromium is installed) and short fuzz runs.
GO ?= go
FUZZTIME ?= 10000x

.PHONY: test setup postgres check unit size fuzz bench run

test: setup check unit size fuzz

# setup installs what the tests need where it can: Chromium and HAProxy
# through apt-get when running as root, axe-core (pinned by server/testdata's
# lock file) through npm, and a running PostgreSQL (the postgres target);
# NATS runs inside the tests (nats-server, embedded). Where it
# cannot, those tests skip and say what to install, except under CI=true,
# where they fail.
setup: postgres
	@$(GO) mod download
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo 'setup: installing chromium with apt-get'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo 'setup: no chromium (apt-get install -y chromium): the browser tests will skip'; fi; \
	fi
	@if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo 'setup: installing haproxy with apt-get'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	  else echo 'setup: no haproxy (apt-get install -y haproxy): the several-nodes test behind it will skip'; fi; \
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

# postgres makes sure a PostgreSQL server answers on the local Unix socket
# for the PostgreSQL engine's tests (each creates its own database):
# installed with apt-get and started as root, with a role named root. With
# PARLEY_TEST_POSTGRES set, the tests use that server instead. (runuser is
# in /usr/sbin, which a user's PATH may lack.)
postgres:
	@PATH="$$PATH:/usr/sbin:/sbin"; \
	if [ -z "$$PARLEY_TEST_POSTGRES" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  if ! command -v pg_ctlcluster >/dev/null 2>&1; then \
	    echo 'setup: installing postgresql with apt-get'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  fi; \
	  cluster=$$(pg_lsclusters -h | awk 'NR==1 {print $$1, $$2}'); \
	  if [ -z "$$cluster" ]; then pg_createcluster 15 main >/dev/null; cluster='15 main'; fi; \
	  pg_ctlcluster --skip-systemctl-redirect $$cluster start >/dev/null 2>&1 || true; \
	  runuser -u postgres -- psql -qAtc "SELECT 1 FROM pg_roles WHERE rolname = 'root'" | grep -q 1 || \
	    runuser -u postgres -- psql -qc 'CREATE ROLE root LOGIN SUPERUSER'; \
	elif [ -z "$$PARLEY_TEST_POSTGRES" ]; then \
	  echo 'setup: not root: start PostgreSQL yourself (or set PARLEY_TEST_POSTGRES) or the PostgreSQL tests will skip'; \
	fi

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

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
