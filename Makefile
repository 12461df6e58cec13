# Tocsin: `make run` and `make test` are the quick start (see README.md).
.PHONY: run test bench build stop prepare help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## start PostgreSQL, the local AWS endpoint, migrations, demo data, and every function
	@scripts/run.sh

test: ## the same setup, then fmt, clippy, cfn-lint, the .sqlx check and every test
	@scripts/test.sh

bench: ## benchmarks, printed as ratios against a baseline measured in the same run
	@scripts/bench.sh

build: ## release bootstraps of every function with cargo-lambda (target/lambda/*/bootstrap)
	@scripts/build.sh

prepare: ## regenerate .sqlx/ after changing a query or a migration
	@scripts/prepare.sh

stop: ## stop the background moto and private PostgreSQL that run/test started
	@scripts/stop.sh
