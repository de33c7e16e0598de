# Everyday commands. `just` lists them.

# Run a scenario (default: the quickstart on this machine).
run scenario="scenarios/quickstart.yaml":
    cargo run -- run {{scenario}}

# Show the cells a scenario expands to.
plan scenario="scenarios/quickstart.yaml":
    cargo run -- plan {{scenario}}

# Rebuild a scenario's tables from its cells on disk.
analyze scenario="scenarios/quickstart.yaml":
    cargo run -- analyze {{scenario}}

# The whole test suite (installs pocl and gcc when missing).
test *args:
    ./tests/run.sh {{args}}

# Regenerate schema.json and boards.schema.json from the Rust types.
schema:
    cargo run -- schema -o schema.json
    cargo run -- schema --boards -o boards.schema.json

# Build the board-side helpers for this machine and print their paths.
helpers:
    cargo run -- helpers

# Every benchmark (BENCHMARKS.md): installs what they need, release
# build (the first compiles polars for a while), then each bench in turn;
# about 15 minutes on 2 cores. `just bench ingest planning` runs some.
bench *names:
    benches/run.sh {{names}}

# Format and lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Compare a result set with a commit (default: the last one).
diff dir="outputs/quickstart" rev="HEAD":
    cargo run -- diff {{dir}} --rev {{rev}}

# Write the report page of a result set (report.html, report.md, plots/).
report dir="outputs/quickstart":
    cargo run -- report {{dir}}

# The boards of the inventory and whether each answers.
boards:
    cargo run -- boards
