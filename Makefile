# rollgate — GNU make targets. `make test` is the one command that runs
# everything (CI runs it through .ci/run); `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
# The targets run their prerequisites in the order given, even under -j.
.NOTPARALLEL:

# Never prompt (apt-get in hack/ensure-*.sh); keep CI quiet and unattended.
export DEBIAN_FRONTEND := noninteractive

GO ?= go

# What hack/ensure-*.sh build or fetch is cached outside the checkout, so a
# fresh clone (CI's) reuses it: the control plane built from source, the two
# Debian builds of Redis.
CACHE_ROOT ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rollgate
export KUBE_CACHE_DIR ?= $(CACHE_ROOT)/kube
export REDIS_DEBS_CACHE ?= $(CACHE_ROOT)/redis

# Pinned tool versions, run with `go run tool@version`: nothing to install,
# and after the first run they build from the module cache.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

PKGS ?= ./...
TEST_TIMEOUT ?= 25m
TEST_FLAGS ?=

FUZZTIME ?= 30s
FUZZ_PKGS ?= ./...

# The randomized suite (upgrade/upgradetest/model_test.go): TestStress*
# run only when -rapid.checks is given, from random seeds (-rapid.seed=N
# replays one); plain `go test` runs TestModel's fixed 2,000 instead.
STRESS_PKGS ?= ./upgrade/upgradetest/
STRESS_RUN ?= Stress
STRESS_ARGS ?= -rapid.checks=100000
STRESS_TIMEOUT ?= 60m

BENCH ?= .
BENCH_PKGS ?= ./...
BENCH_OUT ?= bench.out

.PHONY: help test deps check vet fmt staticcheck verify-generate generate fuzz stress bench demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-16s %s\n", $$1, $$2 }'

test: deps check ## deps, check, then every test with the race detector
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS)

deps: ## install what the tests need (every hack/ensure-*.sh; idempotent)
	@for f in hack/ensure-*.sh; do [ -e "$$f" ] || continue; echo "deps: $$f" >&2; bash "$$f" >&2 || exit 1; done

check: vet fmt staticcheck verify-generate ## go vet, gofmt, staticcheck, generated code up to date

vet:
	$(GO) vet $(PKGS)

# Go files as the go command sees them: no testdata, no dot or underscore
# directories (.cache, .git).
fmt:
	@files=$$(find . -mindepth 1 \( -name '.*' -o -name '_*' -o -name testdata \) -prune -o -type f -name '*.go' -print | xargs -r gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (run gofmt -w):" >&2; echo "$$files" >&2; exit 1; fi

staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)

verify-generate:
	bash hack/gen.sh --verify

generate: ## regenerate checked-in code (status DeepCopy)
	bash hack/gen.sh

fuzz: ## run every Fuzz target for FUZZTIME each (default 30s)
	FUZZTIME='$(FUZZTIME)' GO='$(GO)' bash hack/fuzz.sh $(FUZZ_PKGS)

stress: ## long randomized runs of the upgrade engine (STRESS_ARGS to tune)
	$(GO) test -v -run '$(STRESS_RUN)' -count=1 -timeout $(STRESS_TIMEOUT) $(STRESS_PKGS) -args $(STRESS_ARGS)

# The engine's Step/Plan and the metrics verifier (BENCH_PKGS other than
# ./... to choose), BENCH_COUNT runs each (default 5), raw output in
# BENCH_OUT; then a table of the best runs, and the upgrade simulator's
# makespans (SIM_SEEDS seeds per scenario, default 20). See docs/performance.md.
bench: ## benchmarks with allocations, a table, then the makespan simulator
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -count=$(or $(BENCH_COUNT),5) $(if $(filter ./...,$(BENCH_PKGS)),./upgrade ./verify,$(BENCH_PKGS)) 2>&1 | tee $(BENCH_OUT)
	@echo
	$(GO) run ./internal/benchtable -stat=min < $(BENCH_OUT)
	$(GO) run ./examples/simulate -seeds $(or $(SIM_SEEDS),20)

demo: ## run the canary example
	$(GO) run ./examples/canary
