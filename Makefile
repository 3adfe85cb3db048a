# The data sources layer: one entry point for the local stack, tests, benchmarks and packaging.
# `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: help venv install lint typecheck test test-unit test-integration local-up local-down \
        local-status local-clean bench-kafka bench-compare

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------------------------
# What the targets run, each built once and cached (a stamp file): make builds it the first time a
# target needs it, so `make local-up` and `make test` work on a fresh clone.
# ---------------------------------------------------------------------------------------------
AF_VENV := .venv-airflow
AF_STAMP := $(AF_VENV)/.installed
AF_REQS := mwaa_dags/requirements.txt $(wildcard mwaa_dags/requirements/*.txt mwaa_dags/requirements/*.py \
           mwaa_dags/requirements/mwaa-3.2.1/*.txt)
SPARK_JARS_STAMP := emr_jobs/jars/target/jars/.resolved
comma := ,
# EB_STACK_SKIP=airflow,spark leaves those programs out of the stack on purpose (local/stack/settings.py), so
# they are not built for it either. Anything else the stack runs is built, or local-up fails naming it.
STACK_SKIP := $(subst $(comma), ,$(EB_STACK_SKIP))
STACK_BUILT := $(STAMP) $(if $(filter airflow,$(STACK_SKIP)),,$(AF_STAMP)) \
               $(if $(filter spark,$(STACK_SKIP)),,$(SPARK_JARS_STAMP))
# The tests run every program (the integration fixture starts the whole stack when it is down).
ALL_BUILT := $(STAMP) $(AF_STAMP) $(SPARK_JARS_STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[all,dev]'
	@touch $(STAMP)

# Airflow has its own venv: its pins (starlette<1, fastapi, pydantic) clash with the gateway's. Same pins as
# the MWAA 3.2.1 image (mwaa_dags/requirements/local_env.py: its vendored constraints + the py311 overrides).
$(AF_STAMP): $(AF_REQS) pyproject.toml
	@test -x $(AF_VENV)/bin/python || $(PY_SYS) -m venv $(AF_VENV)
	$(AF_VENV)/bin/pip install -q --upgrade pip
	$(AF_VENV)/bin/python mwaa_dags/requirements/local_env.py $(AF_VENV)/mwaa-pins
	$(AF_VENV)/bin/pip install -q -c $(AF_VENV)/mwaa-pins/constraints.txt -r $(AF_VENV)/mwaa-pins/requirements.txt -e .
	@touch $(AF_STAMP)

$(SPARK_JARS_STAMP): emr_jobs/jars/pom.xml
	mvn -q -B -f emr_jobs/jars/pom.xml dependency:copy-dependencies
	@touch $(SPARK_JARS_STAMP)

install: $(ALL_BUILT) ## build everything once: .venv (every extra), .venv-airflow, Spark's connector jars (other targets do it when they need it)

venv: $(STAMP) ## only .venv: the project with every extra

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .

typecheck: $(STAMP) ## mypy on the shared library, the handlers, the Spark jobs, the local stack, the benches, infra's scripts and the tests
	$(VENV)/bin/mypy eventbus lambdas emr_jobs local bench infra/scripts/*.py tests

# ---------------------------------------------------------------------------------------------
# Tests (the one test command: `make test`)
# ---------------------------------------------------------------------------------------------
test: $(ALL_BUILT) lint typecheck ## ruff + mypy, then unit + integration tests (starts the local engines it needs, stops what it started)
	$(PY) -m pytest tests -q --durations=25

test-unit: $(ALL_BUILT) ## unit tests only (no services)
	$(PY) -m pytest tests/unit -q

test-integration: $(ALL_BUILT) ## integration tests against the real local engines
	$(PY) -m pytest tests/integration -q

# ---------------------------------------------------------------------------------------------
# Local stack (no Docker): Kafka KRaft, PostgreSQL 15, AWS emulator, under supervisord
# ---------------------------------------------------------------------------------------------
local-up: $(STACK_BUILT) ## build what the stack runs (first time), start every program (idempotent), apply the catalog; EB_STACK_SKIP=airflow,spark leaves those out
	$(PY) -m local.stack up

local-down: $(STAMP) ## stop every stack process, keep the data
	$(PY) -m local.stack down

local-status: $(STAMP) ## each process and each topic (partitions, messages)
	$(PY) -m local.stack status

local-clean: $(STAMP) ## stop the stack and wipe its state folder
	$(PY) -m local.stack clean

# ---------------------------------------------------------------------------------------------
# Benchmarks (print a table, write JSON under bench/results/)
# ---------------------------------------------------------------------------------------------
bench-kafka: $(STAMP) ## serde encode rate + producer throughput vs a bare confluent-kafka producer
	$(PY) -m bench.kafka

bench-compare: $(STACK_BUILT) ## the same benches on BASE (a commit, in a /tmp worktree) and on this tree, alternating: make bench-compare BASE=e753f94 [BENCHES=kafka,simulators,gateway] [COMPARE_ARGS="--rounds 2"]
	$(PY) -m bench.compare --base '$(BASE)' --benches '$(or $(BENCHES),kafka,simulators,gateway)' $(COMPARE_ARGS)

# ---------------------------------------------------------------------------------------------
# Terraform / packaging (infra/; see infra/README.md)
# ---------------------------------------------------------------------------------------------
.PHONY: tf-check tf-apply-local package deploy undeploy

tf-check: ## terraform fmt + validate + offline plan + checkov + module docs (no AWS, no registry)
	$(PY_SYS) infra/scripts/tf_check.py $(TF_CHECK_ARGS)

tf-apply-local: $(STAMP) ## apply all of infra/ to a private AWS emulator, re-plan (no changes), destroy (nothing left); prints resources + time
	$(PY) infra/scripts/tf_apply_local.py $(TF_APPLY_LOCAL_ARGS)

deploy: package ## deploy to the AWS account of your credentials: image build+push, terraform apply, Airflow pools (MWAA), EMR streaming jobs; prints the gateway URL
	$(PY) infra/scripts/deploy.py deploy

undeploy: $(STAMP) ## stop the EMR jobs, lift deletion protection, terraform destroy (asks first; UNDEPLOY_ARGS=--yes does not)
	$(PY) infra/scripts/deploy.py undeploy $(UNDEPLOY_ARGS)

package: $(STAMP) $(SPARK_JARS_STAMP) ## build dist/: Lambda zips (python3.12 x86_64), MWAA DAG bundle, EMR job bundle + its deps.tar.gz (cp311 wheels)
	$(PY) infra/package.py $(PACKAGE_ARGS)

# ---------------------------------------------------------------------------------------------
# CDC (lambdas/cdc: PostgreSQL pgoutput -> Debezium envelopes -> Kafka)
# ---------------------------------------------------------------------------------------------
.PHONY: cdc bench-cdc drill-cdc

cdc: $(STAMP) ## run the CDC relay in the foreground (CDC_ARGS="--slot x ..."); `make local-up` runs one as program cdc
	$(PY) -m lambdas.cdc run $(CDC_ARGS)

bench-cdc: $(STACK_BUILT) ## CDC: changes/s + commit->Kafka-ack p50/p99 at 1k/5k/10k/max beside the raw decode rate
	$(PY) -m bench.cdc $(BENCH_CDC_ARGS)

drill-cdc: $(STACK_BUILT) ## CDC fault drills: SIGKILL the relay, stop Kafka 30 s, under write load; nothing lost
	$(PY) -m pytest tests/integration/test_cdc_drills.py -q -s -p no:cacheprovider

# ---------------------------------------------------------------------------------------------
# Gateway (lambdas/gateway: FastAPI ingest -> topic_app_events; see lambdas/gateway/README.md)
# ---------------------------------------------------------------------------------------------
.PHONY: gateway bench-gateway drill-gateway fuzz-gateway

gateway: $(STAMP) ## run the event gateway (uvicorn, 127.0.0.1:8000, a worker per CPU); `make local-up` runs one as program gateway
	$(PY) -m lambdas.gateway $(GATEWAY_ARGS)

bench-gateway: $(STACK_BUILT) ## gateway: single-event req/s + p50/p99, batch events/s, beside a bare producer -> bench/results/gateway.json
	$(PY) -m bench.gateway $(BENCH_GATEWAY_ARGS)

drill-gateway: $(STACK_BUILT) ## gateway no-loss drill: stop/start Kafka under load; every 2xx in Kafka, nothing else
	$(PY) -m bench.gateway_drill $(DRILL_GATEWAY_ARGS)

fuzz-gateway: $(STACK_BUILT) ## schemathesis against the gateway's own OpenAPI (>=1,000 requests, zero 5xx; part of `make test`)
	$(PY) -m pytest tests/integration/test_gateway_fuzz.py -q -s -p no:cacheprovider

# ---------------------------------------------------------------------------------------------
# Simulators (lambdas/simulators: one seeded world -> gateway, Kafka, PostgreSQL; see lambdas/simulators/README.md)
# ---------------------------------------------------------------------------------------------
.PHONY: simulate bench-simulators

simulate: $(STAMP) ## run the simulators in the foreground (SIM_ARGS="--scenario load --duration 60"); `make local-up` runs the default as program simulators
	$(PY) -m lambdas.simulators run $(SIM_ARGS)

bench-simulators: $(STACK_BUILT) ## simulators: events/s to Kafka per source and all together (Avro, acked) beside a bare producer; rate accuracy 1k/s for 60 s
	$(PY) -m bench.simulators $(BENCH_SIMULATORS_ARGS)

# ---------------------------------------------------------------------------------------------
# Console (local/console: read-only web UI on 127.0.0.1:8088 + `peek`; see local/console/README.md)
# ---------------------------------------------------------------------------------------------
.PHONY: console peek test-e2e

console: $(STAMP) ## run the web console in the foreground (127.0.0.1:8088; CONSOLE_ARGS="--port 8099"); `make local-up` runs one as program console
	$(PY) -m local.console serve $(CONSOLE_ARGS)

peek: $(STAMP) ## decoded records as JSON lines: make peek TOPIC=topic_app_events [KEY=u-1] [N=10] [PEEK_ARGS="--follow"]
	@test -n "$(TOPIC)" || { echo "usage: make peek TOPIC=topic_app_events [KEY=...] [N=10] [PEEK_ARGS=--follow]" >&2; exit 2; }
	$(PY) -m local.console peek --topic '$(TOPIC)' $(if $(KEY),--key '$(KEY)') $(if $(N),-n $(N)) $(PEEK_ARGS)

test-e2e: $(ALL_BUILT) ## browser tests of the console (headless Debian chromium via Playwright; part of `make test`)
	$(PY) -m pytest tests/e2e -q

# ---------------------------------------------------------------------------------------------
# Airflow DAGs (mwaa_dags/: weather, maps, config-driven -> topic_external_data; see mwaa_dags/README.md)
# Airflow has its own venv (.venv-airflow): its pins (starlette<1, fastapi, pydantic) clash with the gateway's.
# ---------------------------------------------------------------------------------------------
.PHONY: airflow-install dag airflow airflow-check airflow-backfill-check typecheck-dags
typecheck: typecheck-dags

typecheck-dags: $(STAMP) ## mypy on the DAGs, their extdata package, the replay server and the local Airflow programs (part of `make typecheck`)
	MYPYPATH=mwaa_dags $(VENV)/bin/mypy mwaa_dags/extdata mwaa_dags/weather_data_ingestion.py mwaa_dags/maps_data_ingestion.py \
	    mwaa_dags/config_driven_pipeline.py local/replay local/stack/airflow.py local/stack/airflow_cli.py

airflow-install: $(AF_STAMP) ## create .venv-airflow: Airflow (pinned, MWAA's version) + the shared library (make local-up/test do it)

dag: $(STAMP) $(AF_STAMP) ## run one DAG once on the running stack: make dag DAG=weather_data_ingestion DATE=2026-01-15T06:00:00Z
	@test -n "$(DAG)" -a -n "$(DATE)" || { echo "usage: make dag DAG=weather_data_ingestion|maps_data_ingestion|config_driven_pipeline DATE=2026-01-15T06:00:00Z" >&2; exit 2; }
	$(PY) -m local.stack.airflow_cli dag '$(DAG)' '$(DATE)'

airflow: $(STAMP) $(AF_STAMP) ## the airflow CLI with the stack's config: make airflow ARGS="dags list"
	$(PY) -m local.stack.airflow_cli airflow $(ARGS)

airflow-check: $(STAMP) $(AF_STAMP) ## trigger each DAG on the stack's Airflow (127.0.0.1:8080), wait, print run seconds, records, Airflow memory
	$(PY) -m local.stack.airflow_cli check

airflow-backfill-check: $(STAMP) $(AF_STAMP) ## backfill 3 days of the weather DAG on the stack with pool open_meteo at 1 slot; print the replay server's most concurrent Open-Meteo requests (must be 1)
	$(PY) -m local.stack.airflow_cli backfill-check

# ---------------------------------------------------------------------------------------------
# Spark Structured Streaming (emr_jobs/: windows, booking/user state, lake, dead letters; see emr_jobs/README.md)
# ---------------------------------------------------------------------------------------------
.PHONY: spark spark-jars bench-spark bench-spark-rate drill-spark drill-spark-hostile drill-spark-evolution
spark-jars: $(SPARK_JARS_STAMP) ## resolve the Kafka/Avro/MSK-IAM connector jars from Maven Central into emr_jobs/jars/target/jars (make local-up/test do it)

spark: $(STAMP) $(SPARK_JARS_STAMP) ## run every Spark job in one local[2] driver in the foreground (SPARK_ARGS="--jobs app_events --once"); `make local-up` runs it as program spark
	$(PY) -m emr_jobs run $(SPARK_ARGS)

bench-spark: $(STACK_BUILT) $(SPARK_JARS_STAMP) ## Spark: events/s per job on a pre-loaded backlog beside Spark's raw Kafka read rate -> bench/results/spark.json
	$(PY) -m bench.spark $(BENCH_SPARK_ARGS)

bench-spark-rate: $(STACK_BUILT) $(SPARK_JARS_STAMP) ## Spark live rate: app_events replaying RATE events/s of event time with live triggers, state filling vs full (BENCH_SPARK_RATE_ARGS="--rate 20000 --seconds 1200"; default 10,000 for 1,080 s, about 10 min) -> bench/results/spark_rate.json
	$(PY) -m bench.spark_rate $(BENCH_SPARK_RATE_ARGS)

drill-spark: $(STACK_BUILT) $(SPARK_JARS_STAMP) ## Spark restart drill: SIGKILL the driver under load, restart from the checkpoint; state/windows equal an uninterrupted run
	$(PY) -m bench.spark_drill $(DRILL_SPARK_ARGS)

drill-spark-hostile: $(STACK_BUILT) $(SPARK_JARS_STAMP) ## Spark hostile-input drill: a 2099 event (422 at the gateway, clamped past it), 1% re-sent, up to 20 min late, through the gateway app into running jobs; closed windows and user counts = plain Python
	$(PY) -m bench.spark_hostile $(DRILL_HOSTILE_ARGS)

drill-spark-evolution: $(STACK_BUILT) $(SPARK_JARS_STAMP) ## Spark schema-evolution drill: AppEvent v2 registered (scratch registry) while the jobs run, v1+v2 mixed: all counted, no dead letter, v2's field in the lake
	$(PY) -m bench.spark_evolution $(DRILL_EVOLUTION_ARGS)

# ---------------------------------------------------------------------------------------------
# make verify (lambdas/verify: every output against the simulators' ground truth; see lambdas/verify/README.md)
# ---------------------------------------------------------------------------------------------
.PHONY: verify
verify: $(STAMP) ## reconcile closed windows, funnel, clickstream, bookings (truth + PostgreSQL) against topic_truth; p50/p99 per stage; exit 1 on a mismatch (VERIFY_ARGS="--profile aws" / "--topic-prefix t_")
	$(PY) -m lambdas.verify $(VERIFY_ARGS)
