# Fraud Detection Analytics Platform
#
#   make demo            fresh machine: install, start, backfill, train, serve live traffic
#   make local-up        install everything, start the native stack
#   make test            install, start what the tests need, run unit+integration+e2e, stop
#   make up              Docker users: the whole platform with docker compose
#
# `make help` lists every target.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV     := .venv
PY       := $(VENV)/bin/python
STACK    := $(VENV)/bin/fraud-stack
COMPOSE  := docker compose --env-file versions.env --env-file .env
PHASES   := phase1 phase2 phase3 phase4 phase5
PYTEST_ARGS ?=
#: pytest on both cores: the platform's tests in one xdist group, the unit tests beside them
XDIST    := -n 2 --dist loadgroup
#: download cache outside the repo (fraud_common.paths.cache_dir); mypy's cache lives there
CACHE_DIR := $(or $(FRAUD_CACHE_DIR),$(HOME)/.cache/fraud-platform)

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

# ------------------------------------------------------------------ setup
.PHONY: init
init: ## write .env with freshly generated secrets (keeps an existing .env)
	@PYTHONPATH=infra:libs/common python3 -m fraud_infra.dotenv_init

.PHONY: install
install: ## install the Python environment from uv.lock and Airflow's own (idempotent, cached)
	@bash infra/native/install/python.sh
	@bash infra/native/install/airflow.sh

# ------------------------------------------------------------------ native stack
.PHONY: local-up
local-up: init install ## start the native stack (no Docker) and print its URLs
	@$(STACK) up core

.PHONY: demo
demo: init install ## the whole lifecycle natively: history, pipeline, training, live scoring (DEMO_DAYS, DEMO_TPS)
	@$(VENV)/bin/fraud-demo $(if $(DEMO_DAYS),--days $(DEMO_DAYS),) $(if $(DEMO_TPS),--tps $(DEMO_TPS),)

.PHONY: local-down
local-down: ## stop every process the native stack started
	@if [ -x $(STACK) ]; then $(STACK) down; fi

.PHONY: local-status
local-status: ## state, health and URL of each native service
	@$(STACK) status

.PHONY: local-logs
local-logs: ## tail the native services' logs (SERVICE=name to pick one, FOLLOW=1 to follow)
	@$(STACK) logs $(SERVICE) $(if $(FOLLOW),-f,)

.PHONY: local-clean
local-clean: ## stop the native stack and delete its state directory (all local data)
	@if [ -x $(STACK) ]; then $(STACK) clean; fi

# ------------------------------------------------------------------ tests
.PHONY: lint
lint: export MYPY_CACHE_DIR := $(CACHE_DIR)/mypy
lint: install ## ruff (lint + format check), import layering (import-linter) and mypy
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-logo
	@$(VENV)/bin/mypy libs/contracts/fraud_contracts libs/common/fraud_common libs/simulator/fraud_simulator libs/testing/fraud_testing
	@$(VENV)/bin/mypy infra/fraud_infra phase1-ingestion/producer phase2-streaming/spark_jobs
	@$(VENV)/bin/mypy phase3-transforms/airflow/dags
	@$(VENV)/bin/mypy phase3-transforms/transforms
	@$(VENV)/bin/mypy phase4-ml/training phase4-ml/serving
	@$(VENV)/bin/mypy phase5-analytics/alert_log phase5-analytics/pipeline_exporter phase5-analytics/fraud_dashboards phase5-analytics/tests
	@$(VENV)/bin/mypy phase5-analytics/superset/build_assets.py
	@$(VENV)/bin/mypy bench

.PHONY: test
test: init install lint ## unit, integration and e2e tests against the native stack
	@$(PY) -m pytest -m "unit or integration or e2e" $(XDIST) $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: init install ## only the unit tests (no services)
	@$(PY) -m pytest -m unit $(XDIST) $(PYTEST_ARGS)

.PHONY: phase1-test
phase1-test: init install ## Phase 1 tests (simulator, producer, Kafka + registry)
	@$(PY) -m pytest phase1-ingestion/tests $(PYTEST_ARGS)

.PHONY: phase2-test
phase2-test: init install ## Phase 2 tests (quality rules, decoding, Spark -> Delta bronze, kill test)
	@$(PY) -m pytest phase2-streaming/tests $(PYTEST_ARGS)

.PHONY: phase3-test
phase3-test: init install ## Phase 3 tests (dbt models, Airflow DAGs, one fraud_pipeline run)
	@$(PY) -m pytest phase3-transforms/tests $(PYTEST_ARGS)

.PHONY: phase4-test
phase4-test: init install ## Phase 4 tests (features, training protocol, MLflow gate, scoring API)
	@$(PY) -m pytest phase4-ml/tests $(PYTEST_ARGS)

.PHONY: ml-train
ml-train: init install ## train on gold.mart_fraud_features (SOURCE=simulator: 30 simulated days), gate, promote
	@$(STACK) up mlflow
	@$(VENV)/bin/fraud-train --source $(or $(SOURCE),trino) $(TRAIN_ARGS)
	@$(VENV)/bin/fraud-evaluate $(EVALUATE_ARGS)
	@$(VENV)/bin/fraud-promote

.PHONY: airflow-up
airflow-up: init install ## native Airflow (API server :8082, scheduler, DAG processor) and its dependencies
	@$(STACK) up airflow

.PHONY: infra-test
infra-test: init install ## foundation tests (compose checks, engine round-trips)
	@$(PY) -m pytest infra/tests $(PYTEST_ARGS)

# ------------------------------------------------------------------ docker compose
.PHONY: up
up: init ## docker compose: start every phase
	$(COMPOSE) $(foreach p,$(PHASES),--profile $(p)) up -d

.PHONY: down
down: ## docker compose: stop all services
	$(COMPOSE) $(foreach p,$(PHASES) minio,--profile $(p)) down

.PHONY: clean
clean: ## docker compose: stop and remove all volumes (destructive)
	$(COMPOSE) $(foreach p,$(PHASES) minio,--profile $(p)) down -v

.PHONY: build
build: init ## docker compose: rebuild all images
	$(COMPOSE) $(foreach p,$(PHASES),--profile $(p)) build

# phaseN-up starts phase N and every phase it builds on.
phase1-up: init ## docker compose: Kafka, Schema Registry, Kafka UI, Producer
	$(COMPOSE) --profile phase1 up -d
phase2-up: init ## docker compose: + object store, Spark streaming
	$(COMPOSE) --profile phase1 --profile phase2 up -d
phase3-up: init ## docker compose: + Postgres, Trino, Airflow, dbt
	$(COMPOSE) --profile phase1 --profile phase2 --profile phase3 up -d
phase4-up: init ## docker compose: + MLflow, Redis, Fraud API
	$(COMPOSE) --profile phase1 --profile phase2 --profile phase3 --profile phase4 up -d
phase5-up: init ## docker compose: + Prometheus, exporters, Alertmanager, alert log, Grafana, Superset
	$(COMPOSE) $(foreach p,$(PHASES),--profile $(p)) up -d
.PHONY: phase1-up phase2-up phase3-up phase4-up phase5-up

# ------------------------------------------------------------------ benchmarks (by hand)
.PHONY: bench-freshness
bench-freshness: init install ## Kafka append -> online features at 1,000 TPS for 5 min (needs make local-up; BENCH_ARGS: --tps, --seconds)
	@$(PY) bench/freshness.py $(BENCH_ARGS)

.PHONY: bench-demo
bench-demo: init install ## make demo after `fraud-stack clean` (deletes the stack's data): each step's wall time and CPU-seconds per engine (BENCH_ARGS=--no-clean keeps the data)
	@$(PY) bench/demo_cpu.py $(BENCH_ARGS)

.PHONY: bench-producer
bench-producer: init install ## producer records/s vs kafka-producer-perf-test (same run)
	@$(PY) bench/producer_throughput.py

.PHONY: bench-streaming
bench-streaming: init install ## bronze writer rows/s from a pre-filled topic, and p95 delay at 1,000 TPS
	@$(PY) bench/streaming_throughput.py throughput --records 2000000 --max-offsets 250000
	@$(PY) bench/streaming_throughput.py latency --tps 1000 --seconds 120

.PHONY: bench-transforms
bench-transforms: init install ## dbt: one incremental 15-minute run and a full refresh, 1 M vs 10 M bronze rows
	@$(PY) bench/transforms_scaling.py --sizes 1000000,10000000 $(BENCH_ARGS)

.PHONY: bench-model
bench-model: init install ## detection quality under the Handbook's protocol: mean ± std over 5 simulator seeds vs the Handbook's rows
	@nice -n 10 $(PY) bench/model_quality.py --seeds 1,2,3,4,5 $(BENCH_ARGS)

.PHONY: bench-detection
bench-detection: init install ## one model, held-out days scored with real-time vs the 15-min batch's stale features: AP, high-tier recall, CP@100, bursts (BENCH_ARGS: --seeds, --days)
	@nice -n 10 $(PY) bench/detection.py $(BENCH_ARGS)

.PHONY: bench-scoring
bench-scoring: init install ## scoring API: saturation and p50/p95/p99 at 3,000 req/s (vegeta), vs sklearn
	@$(PY) bench/scoring_load.py --rate 3000 --duration 60
