#!/usr/bin/env python3
"""Reads parquet-exporter output from an S3-compatible server with pyarrow's
S3 filesystem (Hive partitioning) and prints one JSON object.

usage: read_s3_parquet.py ENDPOINT BUCKET/PREFIX
"""
import json
import sys

import pyarrow.dataset as ds
from pyarrow import fs


def main(endpoint: str, root: str) -> None:
    scheme, host = endpoint.split("://", 1)
    s3 = fs.S3FileSystem(
        endpoint_override=host, scheme=scheme, access_key="test", secret_key="test", region="us-east-1"
    )
    dataset = ds.dataset(f"{root}/game-messages", filesystem=s3, format="parquet", partitioning="hive")
    table = dataset.to_table(columns=["message_id", "sent_at", "dt", "hour"])
    ids = table.column("message_id").to_pylist()
    print(
        json.dumps(
            {
                "rows": table.num_rows,
                "distinct": len(set(ids)),
                "files": len(dataset.files),
                "tmp": [f for f in dataset.files if not f.endswith(".parquet")],
                "partitioning": [f.name for f in dataset.partitioning.schema],
                "ids": ids,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
