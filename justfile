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

# Every benchmark (BENCHMARKS.md): release build, the first one compiles
# polars for a while; installs Workload Automation and pandas in a
# virtualenv under target/ once; about 15 minutes on 2 cores.
bench: bench-planning bench-ingest bench-overhead bench-k-search

# Expanding a 100,000-cell matrix, resuming 10,000 finished cells.
bench-planning:
    cargo bench --bench planning

# Ingest of a 10-million-line campaign vs pandas and polars' CSV reader.
bench-ingest:
    cargo bench --bench ingest

# Per-cell overhead and start-up vs Workload Automation 3.3.1.
bench-overhead:
    cargo bench --bench overhead

# K_answer search vs sweep: on the timing model, then measured on `local`.
bench-k-search:
    cargo bench --bench k_search
    cargo bench --bench k_search_local

# Fuzz one target (scenario, log, inventory) for `secs` seconds with
# cargo-fuzz (nightly; `cargo install cargo-fuzz`), from the committed corpus.
fuzz target="scenario" secs="600":
    mkdir -p fuzz/corpus-work/{{target}}
    cd fuzz && cargo +nightly fuzz run {{target}} -O -s none corpus-work/{{target}} corpus/{{target}} -- -max_total_time={{secs}} -max_len=4096 -timeout=10

# Minimise a target's corpus (committed plus working) into fuzz/corpus/<target>.
fuzz-cmin target="scenario":
    rm -rf fuzz/corpus-min && mkdir -p fuzz/corpus-min/{{target}} fuzz/corpus-work/{{target}}
    cd fuzz && cargo +nightly fuzz run {{target}} -O -s none corpus-min/{{target}} corpus/{{target}} corpus-work/{{target}} -- -merge=1
    rm -rf fuzz/corpus/{{target}} && mv fuzz/corpus-min/{{target}} fuzz/corpus/{{target}} && rm -rf fuzz/corpus-min

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
