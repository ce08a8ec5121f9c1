#!/usr/bin/env python3
"""Reads a parquet-exporter output root the way the data team does and
prints what it found as one JSON object: with DuckDB (read_parquet with Hive
partitioning) and with pyarrow (a Hive-partitioned dataset).

usage: read_parquet.py OUT_ROOT
"""
import json
import sys

import duckdb
import pyarrow.dataset as ds


def main(out: str) -> None:
    root = f"{out}/game-messages"
    glob = f"{root}/**/*.parquet"
    con = duckdb.connect()
    rows, distinct, dts, hours = con.sql(
        f"SELECT count(*), count(DISTINCT message_id), count(DISTINCT dt), "
        f"count(DISTINCT (dt, hour)) FROM read_parquet('{glob}', hive_partitioning=1)"
    ).fetchall()[0]
    types = {
        name: kind
        for name, kind, *_ in con.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning=1)"
        ).fetchall()
    }
    ids = [
        r[0]
        for r in con.sql(
            f"SELECT message_id FROM read_parquet('{glob}', hive_partitioning=1)"
        ).fetchall()
    ]
    # Every row sits in the folder of its own sent_at hour (UTC).
    misplaced = con.sql(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=1) "
        f"WHERE strftime(sent_at AT TIME ZONE 'UTC', '%Y-%m-%d') <> CAST(dt AS VARCHAR) "
        f"OR CAST(strftime(sent_at AT TIME ZONE 'UTC', '%H') AS INTEGER) <> CAST(hour AS INTEGER)"
    ).fetchall()[0][0]
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    table = dataset.to_table()
    print(
        json.dumps(
            {
                "duckdb": {
                    "rows": rows,
                    "distinct": distinct,
                    "dates": dts,
                    "hours": hours,
                    "types": types,
                    "misplaced": misplaced,
                },
                "pyarrow": {
                    "rows": table.num_rows,
                    "partitioning": [f.name for f in dataset.partitioning.schema],
                    "sent_at": str(table.schema.field("sent_at").type),
                    "files": len(dataset.files),
                },
                "ids": ids,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
