# Convenience targets; the README's two commands do not depend on make.
GO ?= go

.PHONY: build generate test vet bench clean

build:
	$(GO) build -o bin/vigil ./cmd/vigil

# Regenerate the BPF objects and their Go bindings (needs clang-19:
# scripts/setup.sh installs it). The results are committed.
generate:
	$(GO) generate ./...

vet:
	$(GO) vet ./...

# Kernel tests need root; VIGIL_REQUIRE_BPF=1 turns their skips into failures.
test:
	$(GO) test -count=1 -p 1 -timeout 20m ./...

# Benchmarks need root; goals and how to read them: docs/performance.md;
# every run: bench/NOTES.md.
bench:
	./bench/exec-storm.sh
	$(GO) run ./bench/httpload

clean:
	rm -rf bin
