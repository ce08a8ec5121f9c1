#!/usr/bin/env python3
"""Reads a parquet-exporter output root the way the data team does and
prints what it found as one JSON object: with DuckDB (read_parquet with Hive
partitioning) and with pyarrow (a Hive-partitioned dataset). DATASET is
game-messages (the default) or moderation-actions; "distinct" and "ids" are
of its key (message_id, action_id), "misplaced" of its time (sent_at,
created_at).

usage: read_parquet.py OUT_ROOT [DATASET]
"""
import json
import sys

import duckdb
import pyarrow.dataset as ds


# Per dataset: the key column and the time that places a row in its hour.
DATASETS = {
    "game-messages": ("message_id", "sent_at"),
    "moderation-actions": ("action_id", "created_at"),
}


def main(out: str, dataset: str) -> None:
    key, time = DATASETS[dataset]
    root = f"{out}/{dataset}"
    glob = f"{root}/**/*.parquet"
    con = duckdb.connect()
    rows, distinct, dts, hours = con.sql(
        f"SELECT count(*), count(DISTINCT {key}), count(DISTINCT dt), "
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
            f"SELECT {key} FROM read_parquet('{glob}', hive_partitioning=1)"
        ).fetchall()
    ]
    # Every row sits in the folder of its own hour (UTC).
    misplaced = con.sql(
        f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=1) "
        f"WHERE strftime({time} AT TIME ZONE 'UTC', '%Y-%m-%d') <> CAST(dt AS VARCHAR) "
        f"OR CAST(strftime({time} AT TIME ZONE 'UTC', '%H') AS INTEGER) <> CAST(hour AS INTEGER)"
    ).fetchall()[0][0]
    # Rows stored more than once, with the files that hold them, so a
    # failing count says where the repeat came from.
    duplicates = [
        {key: m, "copies": c}
        for m, c in con.sql(
            f"SELECT {key}, list(kafka_partition || ':' || kafka_offset || ' ' || filename "
            f"ORDER BY filename) FROM read_parquet('{glob}', hive_partitioning=1, filename=1) "
            f"GROUP BY {key} HAVING count(*) > 1 ORDER BY {key} LIMIT 20"
        ).fetchall()
    ]
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
                    "duplicates": duplicates,
                },
                "pyarrow": {
                    "rows": table.num_rows,
                    "partitioning": [f.name for f in dataset.partitioning.schema],
                    time: str(table.schema.field(time).type),
                    "files": len(dataset.files),
                },
                "ids": ids,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "game-messages")
