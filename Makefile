# IntelliStack: the two commands of the quick start are `make run` and `make test`.

GO       ?= go
BIN      ?= bin/intellistack
CADDY    ?= v2.11.9
XCADDY   ?= github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
# xcaddy must `go get` our module; an all-zero pseudo-version plus the local
# path (=.) makes it use this checkout instead of a published release.
MODULE   ?= github.com/intellistack/intellistack@v0.0.0-00010101000000-000000000000

.PHONY: build run test test-race test-short bench lint xcaddy clean reliability

## build: compile Caddy with the standard modules and every IntelliStack module
build:
	$(GO) build -o $(BIN) ./cmd/intellistack

## run: serve the dev Caddyfile (https://localhost:8443, embedded SQLite, no other service)
run: build
	$(BIN) run --config Caddyfile --adapter caddyfile

## test: every test; PostgreSQL tests use DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
## and skip when it does not answer, unless CI is set
test:
	$(GO) test -count=1 -timeout 45m ./...

## test-race: the modules' and shared packages' tests under the race detector (CI runs it;
## a cold build takes several minutes)
test-race:
	$(GO) test -race -count=1 -timeout 60m ./modules/... ./identity/... ./internal/...

## test-short: unit tests only (no Caddy, no database: the harness skips those under -short)
test-short:
	$(GO) test -short ./...

## reliability: the whole stack in real Caddy processes under a class's load, reloads, two nodes and
## faults, at the seed's scale (500 students); one table per scenario. `make test` runs a short version.
reliability:
	RELIABILITY=full $(GO) test -count=1 -timeout 30m -v ./test/reliability/

## bench: Go benchmarks, then the load scripts under bench/ (ratios against a baseline run side by side)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@for d in bench/*/; do \
		if [ -f "$$d/main.go" ]; then echo "== $$d"; $(GO) run "./$$d" || exit 1; fi; \
	done

## lint: formatting, vet and a tidy go.mod
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff

## xcaddy: build a Caddy with xcaddy from this checkout, as third parties would
xcaddy:
	$(GO) run $(XCADDY) build $(CADDY) --with $(MODULE)=. --output bin/caddy-xcaddy
	bin/caddy-xcaddy list-modules | grep -E '^intellistack'

clean:
	rm -rf bin
