# InferenceGateway: `make run` serves the bundled models, `make test` runs every suite.
# Each target installs what it needs, idempotently.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
PY := /usr/bin/python3
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: all deps models build run test fuzz bench soak replay backfill evaluate plog-bench scale-out-bench cluster clean

all: build

deps:
	@bash scripts/install-deps.sh

# Small models are committed; bench_mlp (20 MB) is generated, seeded, identical every time.
models: deps
	@$(PY) models/generate.py --only-missing

# ONNX Runtime comes from NuGet with the build: Microsoft.ML.OnnxRuntime, or with ORT_FLAVOR=Gpu (`make build
# ORT_FLAVOR=Gpu`) Microsoft.ML.OnnxRuntime.Gpu.Linux, the CUDA build.
ORT_FLAVOR ?= Cpu

build:
	$(DOTNET) build InferenceGateway.sln -c $(CONFIG) -nologo -v q -p:OrtFlavor=$(ORT_FLAVOR)

run: deps models
	$(DOTNET) run --project src/InferenceGateway.Server -c $(CONFIG) --property:OrtFlavor=$(ORT_FLAVOR) -- $(ARGS)

test: deps models build
	bash scripts/test.sh $(CONFIG)

# Wire-level fuzzing of the gRPC front end for FUZZ_SECONDS (default 300) with a fresh seed (or FUZZ_SEED to replay);
# `make test` runs the same test on a fixed seed for 3,000 cases.
fuzz: deps models build
	IG_FUZZ_SECONDS=$${FUZZ_SECONDS:-300} IG_FUZZ_SEED=$${FUZZ_SEED:-$$((RANDOM * 32768 + RANDOM))} \
	  $(DOTNET) test tests/InferenceGateway.Server.Tests -c $(CONFIG) --no-build --nologo \
	  --filter "FullyQualifiedName~WireFuzzTests" --logger "console;verbosity=detailed"

bench: deps models build
	bash perf/run-suite.sh

# The gateway under steady mixed load for SOAK_SECONDS (default 600); fails on any failed call or on memory, threads
# or file descriptors still growing in the last third of the run (perf/soak.sh).
soak: deps models build
	CONFIG=$(CONFIG) bash perf/soak.sh

# Overload bounded in time (perf/overload.sh, ~2 minutes): bench_mlp at 2x its measured saturation, open loop on 16
# connections, with its queue-time bound and again without; offered and accepted rates, rejects by status, accepted
# p50/p99, resident memory and recovery into perf/results/overload/ (a subfolder: `make bench` leaves it alone).
overload: deps models build
	CONFIG=$(CONFIG) bash perf/overload.sh

# Streams models/data/transactions.csv.gz through a running gateway (`make run` in another shell) as "Predict, then
# ingest" and reports throughput and fraud v2's AUC (held-out days: 0.9876, models/fraud/metrics.json). Needs a fresh
# feature state: events older than what the gateway holds come back late.
replay: build
	$(DOTNET) src/InferenceGateway.Server/bin/$(CONFIG)/net10.0/InferenceGateway.Server.dll replay $(ARGS)

# Evaluates the prediction log of `make run` (data/predictions.db) per version and arm: the table and comparisons;
# ARGS="--report data/fraud-report.html" also writes the HTML report (docs/prediction-log.md).
evaluate: build
	$(DOTNET) src/InferenceGateway.Server/bin/$(CONFIG)/net10.0/InferenceGateway.Server.dll evaluate $(ARGS)

# The prediction log's figures: records/s into SQLite and PostgreSQL, Predict p99 with the log on and off
# (perf/results/prediction-log.md).
plog-bench: deps models build
	SKIP_BUILD=1 bash perf/prediction-log-bench.sh

# Scale-out's figures (~8 minutes): Predict with the Redis store vs in-process, ingest events/s through Kafka (mock
# cluster) into one and three replicas, Predict from one replica to three, send -> visible; needs redis-server
# (perf/results/scale-out/summary.md).
scale-out-bench: deps models build
	SKIP_BUILD=1 bash perf/scale-out-bench.sh

# Point-in-time features offline through the serving engine; on the bundled data this writes features.csv.gz's values.
backfill: build models
	$(DOTNET) src/InferenceGateway.Server/bin/$(CONFIG)/net10.0/InferenceGateway.Server.dll backfill \
	  $${ARGS:---events models/data/transactions.csv.gz --model fraud --version 2 --output data/features-backfill.csv}

# Three replicas on loopback (gRPC 50061-50063, admin 8081-8083) sharing redis-server, PostgreSQL (the prediction
# log) and a mock Kafka cluster (topic transactions, 6 partitions) or KAFKA_BOOTSTRAP; Ctrl-C stops it all
# (scripts/cluster.sh; ARGS=--check starts, waits ready, prints and stops).
cluster: deps models build
	bash scripts/cluster.sh $(ARGS)

clean:
	$(DOTNET) clean InferenceGateway.sln -c $(CONFIG) -nologo -v q
