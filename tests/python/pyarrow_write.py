#!/usr/bin/env python3
"""The peer of parquet-exporter: pyarrow writing the same rows to zstd
Parquet from an in-memory table. Loads the exporter's output into memory,
then times pyarrow.parquet.write_table alone (wall and process CPU time).
Prints one JSON object.

usage: pyarrow_write.py EXPORT_ROOT SCRATCH_FILE
"""
import json
import os
import sys
import time

import pyarrow.dataset as ds
import pyarrow.parquet as pq


def main(out: str, scratch: str) -> None:
    table = ds.dataset(f"{out}/game-messages", format="parquet", partitioning="hive").to_table()
    table = table.drop_columns([c for c in ("dt", "hour") if c in table.column_names])
    started, cpu_started = time.perf_counter(), time.process_time()
    pq.write_table(table, scratch, compression="zstd", row_group_size=262_144)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    size = os.path.getsize(scratch)
    os.remove(scratch)
    print(json.dumps({"rows": table.num_rows, "seconds": seconds, "rate": table.num_rows / seconds, "bytes": size,
                      "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
