# messagefs — see README.md.
GO      ?= go
BIN     := bin
FUZZTIME ?= 3s

.PHONY: all setup build test unit fuzz demo bench vet clean

all: build

# Installs missing Debian packages (fuse3, libzmq3-dev, pkg-config, age, ...).
setup:
	@bash scripts/setup.sh

build: setup
	$(GO) build -o $(BIN)/messagefs .
	$(GO) build -o $(BIN)/mfs-keygen ./cmd/keygen
	$(GO) build -o $(BIN)/mfs-chat ./cmd/chat

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "run gofmt -w"; exit 1; }

# The full test suite: vet, unit and end-to-end tests (real FUSE mounts,
# real processes, network namespaces when run as root), then every fuzz
# target briefly.
test: setup vet build unit fuzz

unit:
	$(GO) test -count=1 -timeout 15m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

demo: build
	bash scripts/demo.sh

bench: build
	$(GO) run ./internal/bench

clean:
	rm -rf $(BIN)
