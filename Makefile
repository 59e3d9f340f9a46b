# The two commands: `make demo` and `make test`. Everything they need is installed by `make deps`.
SHELL := /bin/bash
CONFIGURATION ?= Release
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: deps build test demo bench dev-broker clean

deps:
	@infra/setup/install-deps.sh

build: deps
	dotnet build Visibility.sln -c $(CONFIGURATION) --nologo

test: deps
	CONFIGURATION=$(CONFIGURATION) infra/setup/run-tests.sh

demo: deps
	dotnet run --project web -c $(CONFIGURATION) -- serve --demo

dev-broker: deps
	dotnet run --project web -c $(CONFIGURATION) -- dev-broker

bench: deps
	dotnet run --project benchmarks/Visibility.Benchmarks -c Release -- --filter '*' $(BENCH_ARGS)

clean:
	dotnet clean Visibility.sln -c $(CONFIGURATION) --nologo
