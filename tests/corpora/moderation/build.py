#!/usr/bin/env python3
"""Lays the hand-written lines of lines_<lang>.py out as a labelled chat
corpus, <lang>.jsonl: one JSON object per message, in time order:

  {"t": ms since the corpus start, "room": R, "user": U, "kind": "chat"|"join",
   "text": T, "label": "benign"|CATEGORY, "incident": ID|null, "also": [CATEGORY…]}

`also` names categories an incident may fairly be alerted under besides
its own (an advert with a link is spam and links). Deterministic (seeded):
`python3 build.py en ko` rewrites the files. Python 3 stdlib only."""

import importlib
import json
import random
import sys

ROOMS = [f"room-{i:02d}" for i in range(12)]
BENIGN_MESSAGES = 4000
SPAN_MS = 4 * 3600 * 1000


def build(lang):
    lines = importlib.import_module(f"lines_{lang}")
    rng = random.Random(f"parley-{lang}")
    out = []
    regulars = [f"{lang}-player-{i:03d}" for i in range(300)]
    # Regulars chat at human pace; each user at least 20 s between lines.
    next_free = {u: 0 for u in regulars}
    for _ in range(BENIGN_MESSAGES):
        user = rng.choice(regulars)
        t = max(next_free[user], rng.randrange(SPAN_MS))
        next_free[user] = t + rng.randrange(20_000, 120_000)
        room = ROOMS[hash_room(user) % len(ROOMS)] if rng.random() < 0.85 else rng.choice(ROOMS)
        out.append(msg(t, room, user, rng.choice(lines.BENIGN), "benign", None))
    n = 0

    def incident(cat):
        nonlocal n
        n += 1
        return f"{lang}-{cat}-{n:03d}"

    def slot():
        # Incidents start past the first 10 minutes, spaced apart.
        return rng.randrange(600_000, SPAN_MS - 600_000)

    for text in lines.TOXIC:
        iid, t = incident("toxicity"), slot()
        user = f"{lang}-troll-{n:03d}"
        out.append(msg(t, rng.choice(ROOMS), user, text, "toxicity", iid))
    for text in lines.REPEATS:
        iid, t = incident("repetition"), slot()
        user, room = f"{lang}-repeater-{n:03d}", rng.choice(ROOMS)
        for k in range(7):
            out.append(msg(t + k * 6_000, room, user, text, "repetition", iid))
    for text in lines.FLOOD[:5]:
        iid, t = incident("flood"), slot()
        user, room = f"{lang}-flooder-{n:03d}", rng.choice(ROOMS)
        for k, line in enumerate(rng.sample(lines.FLOOD, 16)):
            out.append(msg(t + k * 1_200, room, user, line, "flood", iid))
    for text in lines.CHAINS:
        iid, t = incident("repetition"), slot()
        rooms = rng.sample(ROOMS, rng.randrange(3, 6))
        for k in range(rng.randrange(8, 21)):
            user = f"{lang}-chain-{n:03d}-{k:02d}"
            out.append(msg(t + rng.randrange(55_000), rng.choice(rooms), user, text, "repetition", iid))
    for i, text in enumerate(lines.RAIDS):
        iid, t = incident("raid"), slot()
        room = rng.choice(ROOMS)
        with_joins = i % 2 == 0
        for k in range(rng.randrange(30, 61)):
            user = f"{lang}-raider-{n:03d}-{k:02d}"
            at = t + rng.randrange(15_000)
            if with_joins:
                out.append(msg(at, room, user, "", "raid", iid, kind="join"))
            out.append(msg(at + rng.randrange(200, 3_000), room, user, text, "raid", iid))
    for text in lines.SPAM:
        iid, t = incident("spam"), slot()
        rooms = rng.sample(ROOMS, 4)
        for k in range(6):
            user = f"{lang}-spammer-{n:03d}-{k}"
            out.append(msg(t + k * 20_000, rooms[k % 4], user, text, "spam", iid, also=["links"]))
    out.sort(key=lambda m: m["t"])
    with open(f"{lang}.jsonl", "w", encoding="utf-8") as f:
        for m in out:
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    print(f"{lang}.jsonl: {len(out)} messages, {n} incidents")


def hash_room(user):
    return sum(map(ord, user))


def msg(t, room, user, text, label, iid, kind="chat", also=None):
    return {"t": t, "room": room, "user": user, "kind": kind, "text": text,
            "label": label, "incident": iid, "also": also or []}


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    for lang in sys.argv[1:] or ["en", "ko"]:
        build(lang)
