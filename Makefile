# RiskWatch: the commands a developer and CI use. Every target works on a fresh machine:
# uv is installed from PyPI when missing, Python deps by `uv sync`, Kafka's jars from Maven
# Central into ~/.cache/riskwatch (outside git) on first use.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
SERVICES := ingest alerting workorder notify reporting

.PHONY: help uv sync run test test-fast fault lint fmt bench up down status migrate kafka-jars s3-server mosquitto simulate clean

help:
	@echo "make run        start the whole platform in one process (embedded PostgreSQL, demo simulator)"
	@echo "make test       run every test (unit, PostgreSQL, Kafka, end-to-end)"
	@echo "make test-fast  unit tests only (no servers)"
	@echo "make fault      the fault-injection suite only (about 10 minutes; part of make test)"
	@echo "make lint       ruff + mypy"
	@echo "make up / down  distributed mode on this machine: Kafka, PostgreSQL, one process per service"
	@echo "make simulate   feed demo readings to the distributed stack started by 'make up'"
	@echo "make bench      benchmark the distributed mode (writes bench/results/)"
	@echo "make migrate    upgrade every service's schema at RW_DATABASE__URL"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: uv
	@$(UV) sync --quiet

run: sync
	$(UV) run riskwatch run --simulate

kafka-jars: sync
	@$(UV) run riskwatch-devstack fetch-kafka >/dev/null

# Versity's S3 gateway, the real S3-compatible server of the evidence store's tests (built once
# with Go into ~/.cache/riskwatch, about 70-110 s on a fresh 2-core machine).
s3-server:
	@scripts/fetch-versitygw >/dev/null

# Debian's Mosquitto, the real MQTT broker of the MQTT tests (apt-get when missing; `make run`
# uses it when present and runs without MQTT otherwise).
mosquitto:
	@scripts/fetch-mosquitto >/dev/null

test: sync kafka-jars s3-server mosquitto
	$(UV) run pytest

test-fast: sync
	$(UV) run pytest -m "not kafka and not e2e" libs/common/tests/unit services/*/tests/unit

# Kills, freezes and outages against one distributed stack, exact counts after each
# (tests/fault, docs/reliability.md). `make test` runs it too.
fault: sync kafka-jars mosquitto
	$(UV) run pytest -m fault tests/fault

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy libs/common/src libs/devstack/src services/*/src apps/embedded/src

fmt: sync
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

up: sync kafka-jars
	$(UV) run riskwatch-devstack up

down: uv
	$(UV) run riskwatch-devstack down

status: uv
	$(UV) run riskwatch-devstack status

simulate: sync
	$(UV) run riskwatch simulate --url http://127.0.0.1:8001 --alerting-url http://127.0.0.1:8002 --username simulator --password "$$(cat .devstack/demo-password)"

migrate: sync
	@for s in $(SERVICES); do $(UV) run riskwatch-$$s migrate || exit 1; done

bench: sync kafka-jars mosquitto
	$(UV) run python bench/run.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache bench/results
