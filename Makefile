# The commands the README gives. CI (.ci/run) calls `make test` and `make e2e`.

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build test e2e fuzz

build:
	go build -o codex-remote-login .

test:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags e2e ./e2e/...
	go run $(STATICCHECK) ./...
	go test -race ./...

# As root: real sshd in network namespaces, the real Codex CLI, headless Chromium.
e2e:
	e2e/install-deps
	go test -tags e2e -count=1 -timeout 20m -v ./e2e/

# A short run of every fuzz test, beyond the seed corpus that `make test` runs.
fuzz:
	go test -run '^$$' -fuzz FuzzParseLine -fuzztime 30s ./remote/
	go test -run '^$$' -fuzz FuzzScript -fuzztime 30s ./remote/
	go test -run '^$$' -fuzz FuzzParseAuthURL -fuzztime 30s ./oauth/
	go test -run '^$$' -fuzz FuzzWatchRequests -fuzztime 30s ./oauth/
	go test -run '^$$' -fuzz FuzzParseDest -fuzztime 30s ./tunnel/
	go test -run '^$$' -fuzz FuzzResolveConfig -fuzztime 30s ./tunnel/
