.PHONY: setup demo test bench bench-queries clean

setup:
	./scripts/setup

demo:
	./scripts/demo

test:
	./scripts/test

# Generates 100,000 clients / ~3 million events and prints throughput figures
# (the batched append at 10,000, 100,000 and 1,000,000 events per transaction, and in
# batches of 10,000 with 100 in flight).
bench:
	swift build -c release --product patron-bench
	.build/release/patron-bench $(BENCH_ARGS)

# The query suite at 100,000 clients (BENCH_ARGS="--clients 1000000" for a million), with DuckDB.
bench-queries:
	swift build -c release --product patron-querybench
	.build/release/patron-querybench $(BENCH_ARGS)

clean:
	rm -rf .build examples.patron examples.patron-lock examples.patron-keys
