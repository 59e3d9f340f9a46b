# The two commands: `make demo` and `make test`. Everything they need is installed by `make deps`.
SHELL := /bin/bash
CONFIGURATION ?= Release
# The demo's embedded store; `dotnet run` starts the program in web/, so the path is made absolute here.
VISIBILITY_DATA ?= $(CURDIR)/data/store
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: deps build test pack demo bench bench-e2e bench-query bench-map bench-export bench-export-stream bench-storage dev-broker clean

deps:
	@infra/setup/install-deps.sh

build: deps
	dotnet build Visibility.sln -c $(CONFIGURATION) --nologo

test: deps
	CONFIGURATION=$(CONFIGURATION) infra/setup/run-tests.sh

# The program as a .NET tool (README, "Command line"): artifacts/packages/visibility.<version>.nupkg, installed with
# `dotnet tool install --global --add-source artifacts/packages visibility` as the command `visibility`.
pack: deps
	dotnet pack web -c $(CONFIGURATION) --nologo

demo: deps
	Visibility__Store__Path="$${Visibility__Store__Path:-$(VISIBILITY_DATA)}" Visibility__Kafka__Embedded=true \
		dotnet run --project web -c $(CONFIGURATION) -- serve --demo

dev-broker: deps
	dotnet run --project web -c $(CONFIGURATION) -- dev-broker

# BenchmarkDotNet suites (decode, lookup, store insert); BENCH_ARGS="--job short" for a quick pass,
# BENCH_FILTER='*InsertBenchmarks*' for one suite.
BENCH_FILTER ?= *
bench: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- --filter '$(BENCH_FILTER)' $(BENCH_ARGS)

# End-to-end throughput: pipeline vs a bare consumer vs chDB's Kafka engine on one topic (BENCHMARKS.md).
# E2E_ARGS, e.g. "--records 2000000 --rounds 3"; `... -- e2e --help` lists the options.
# Query latency at 1 M, 10 M and 50 M stored flows (planner vs raw flows); QUERY_ARGS="--steps 1000000" for a quick pass.
bench-query: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- query $(QUERY_ARGS)

# The map at 2,000 nodes / 10,000 edges in headless chromium: layout time and responsiveness (BENCHMARKS.md "Map").
bench-map: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- map $(MAP_ARGS)

# SIEM export: records/s per format × sink (syslog TCP/TLS/UDP to rsyslogd, file, Kafka on the dev broker) against
# formatting alone (BENCHMARKS.md "SIEM export"); EXPORT_ARGS="--records 20000" for a quick pass.
bench-export: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- export $(EXPORT_ARGS)

# The findings stream end to end: an export worker catching up on N findings in an embedded store into a file sink.
bench-export-stream: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- export-stream $(EXPORT_STREAM_ARGS)

# Storage per row (README "Sizing"): 10,000 records/s for an hour through decode, enrich and the embedded store with
# its rollups, then bytes per row of every table and rollup rows per bucket; STORAGE_ARGS="--minutes 10" for a quick pass.
bench-storage: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- storage $(STORAGE_ARGS)

bench-e2e: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- e2e $(E2E_ARGS)

clean:
	dotnet clean Visibility.sln -c $(CONFIGURATION) --nologo
