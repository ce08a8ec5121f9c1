"""ClickHouse 26.9 compatibility of Parley's DDL, run in-process with chdb-core.

    /var/cache/parley/venv/bin/python tests/chdb/compat_chdb.py

Runs deploy/clickhouse/*.sql (single node), the cluster schema as far as one
node allows (ON CLUSTER dropped, Replicated engine made local, Distributed
over the one local node skipped), the documented reads, and the
`insert_deduplication_token` path: one batch inserted twice with the same
token. Prints one line per check and `chdb: N passed, N failed`.
"""

import os
import pathlib
import re
import sys
import tempfile

from chdb import session as chs

REPO = pathlib.Path(__file__).resolve().parents[2]
DDL = sorted((REPO / "deploy/clickhouse").glob("*.sql"))
CLUSTER = REPO / "deploy/clickhouse/cluster/001_messages.sql"

# Batches dumped by workers/db-writer/tests/rowbinary_dump.rs, as db-writer
# encodes them; the check is skipped (and says so) without them.
DUMP = os.environ.get("PARLEY_ROWBINARY_DIR")

results = []


def columns(path, name):
    """A `pub const NAME: &str = "...";` column list from db-writer's source."""
    src = (REPO / path).read_text()
    m = re.search(name + r': &(?:\'static )?str = "((?:[^"\\]|\\\n)*)"', src)
    assert m, f"{name} not found in {path}"
    return re.sub(r"\\\n\s*", "", m.group(1))


def check(name, fn):
    try:
        fn()
        results.append(True)
        print(f"ok    {name}")
    except Exception as e:  # one line per failed check, then go on
        results.append(False)
        print(f"FAIL  {name}: {e}")


def statements(sql):
    sql = "\n".join(l for l in sql.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in sql.split(";") if s.strip()]


def one(sess, q):
    return str(sess.query(q, "TSV")).strip()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        sess = chs.Session(tmp)
        print(f"      engine: ClickHouse {one(sess, 'SELECT version()')}")
        for f in DDL:
            check(f"ddl {f.name}", lambda f=f: [sess.query(s) for s in statements(f.read_text())])
        row = ("('m1',1,'g','r','u',NULL,'chat','hi',1700000000000,'all','{}',0,{off},now())")

        def dedup_token():
            for _ in range(2):
                sess.query(
                    "INSERT INTO parley.messages SETTINGS insert_deduplication_token = 'p0-0-0' VALUES "
                    + row.replace('{off}', '0')
                )
            n = one(sess, "SELECT count() FROM parley.messages FINAL WHERE message_id = 'm1'")
            assert n == "1", f"FINAL count {n}"
            raw = one(sess, "SELECT count() FROM parley.messages WHERE message_id = 'm1'")
            # Known: a non-replicated table keeps both inserts (the token
            # needs non_replicated_deduplication_window, a setting 18.16
            # lacks); ReplacingMergeTree and FINAL collapse them.
            print(f"      stored copies before merge: {raw}")

        check("insert_deduplication_token batch twice, read FINAL", dedup_token)
        check(
            "deleted messages left out (docs query)",
            lambda: one(
                sess,
                "SELECT count() FROM parley.messages FINAL WHERE room_id = 'r' AND message_id NOT IN "
                "(SELECT message_id FROM parley.moderation_actions WHERE action = 'delete_message')",
            ),
        )

        # The history API's page (workers/websocket-sender/src/history/store.rs,
        # binds filled in) and the reads docs/operations.md and
        # docs/contracts.md give operators.
        reads = {
            "history page (viewer)": "SELECT message_id, v, game_id, room_id, user_id, user_name, kind, "
            "content, sent_at, visibility, meta FROM parley.messages WHERE room_id = 'r' AND "
            "(sent_at < 9999999999999 OR (sent_at = 9999999999999 AND message_id < '')) "
            "AND visibility != 'moderators' ORDER BY sent_at DESC, message_id DESC "
            "LIMIT 1 BY message_id LIMIT 50",
            "room page FINAL": "SELECT * FROM parley.messages FINAL WHERE room_id = 'r' "
            "ORDER BY sent_at DESC LIMIT 50",
            "messages per game": "SELECT game_id, uniqExact(message_id) FROM parley.messages GROUP BY game_id",
            "actions of a room": "SELECT * FROM parley.moderation_actions FINAL WHERE room_id = 'r' "
            "ORDER BY created_at",
            "viewers' page without deleted": "SELECT message_id, user_id, content, sent_at "
            "FROM parley.messages FINAL WHERE room_id = 'r' AND visibility = 'all' AND message_id NOT IN "
            "(SELECT message_id FROM parley.moderation_actions WHERE action = 'delete_message') "
            "ORDER BY sent_at DESC, message_id DESC LIMIT 50",
            "per game without deleted": "SELECT game_id, uniqExact(message_id) FROM parley.messages "
            "WHERE message_id NOT IN (SELECT message_id FROM parley.moderation_actions "
            "WHERE action = 'delete_message') GROUP BY game_id",
            "dedup-token probe": "SELECT count() FROM system.settings WHERE name = 'insert_deduplication_token'",
        }

        def history_page():
            out = str(sess.query(reads.pop("history page (viewer)"), "JSONEachRow")).strip()
            assert out.count("\n") == 0 and '"message_id":"m1"' in out, out

        check("history page (viewer), one row per message_id", history_page)
        for name, q in reads.items():
            check(name, lambda q=q: sess.query(q))

        def rowbinary():
            msg_cols = columns("workers/db-writer/src/row.rs", "COLUMNS")
            act_cols = columns("workers/db-writer/src/action_row.rs", "ACTION_COLUMNS")
            for table, cols, f in [
                ("messages", msg_cols, "messages.rowbinary"),
                ("moderation_actions", act_cols, "actions.rowbinary"),
            ]:
                for _ in range(2):  # a replayed batch: same bytes, same token
                    sess.query(
                        f"INSERT INTO parley.{table} ({cols}) "
                        f"FROM INFILE '{pathlib.Path(DUMP) / f}' "
                        f"SETTINGS insert_deduplication_token = 'p0-0-{table}' FORMAT RowBinary"
                    )
            got = one(
                sess,
                "SELECT message_id, user_name, length(content), visibility, meta, kafka_offset "
                "FROM parley.messages FINAL WHERE message_id LIKE 'rb-%' ORDER BY message_id",
            )
            want = "\n".join([
                'rb-1\tÜnï ✓\t5\tall\t{"platform":"pc"}\t0',
                "rb-2\t\\N\t0\tall\t\t1",
                "rb-3\t\\N\t300\tmoderators\t\t2",
            ])
            assert got == want, got
            acts = one(
                sess,
                "SELECT action_id, action, user_id, message_id, until, alert_id FROM "
                "parley.moderation_actions FINAL WHERE action_id LIKE 'a-%' ORDER BY action_id",
            )
            assert acts == "a-1\tdelete_message\t\\N\trb-2\t\\N\t\\N\n" \
                "a-2\tmute\tu1\t\\N\t1700000900000\tal-1", acts

        if DUMP:
            check("db-writer's RowBinary batches, inserted twice with one token", rowbinary)
        else:
            print("skip  db-writer's RowBinary batches (PARLEY_ROWBINARY_DIR unset)")

        def cluster():
            sql = CLUSTER.read_text().replace(" ON CLUSTER '{cluster}'", "")
            sql = re.sub(r"ReplicatedReplacingMergeTree\([^,]+,[^,]+,\s*", "ReplacingMergeTree(", sql)
            sess.query("DROP DATABASE IF EXISTS parley")
            for s in statements(sql):
                if "Distributed(" in s:
                    continue
                sess.query(s)

        check("cluster schema on one node (local table)", cluster)
    passed = sum(results)
    print(f"chdb: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
