#!/usr/bin/env python3
"""The DuckDB side of Patron's query benchmark.

    python bench/duckdb_queries.py EVENTS.ndjson --today YYYY-MM-DD
           [--runs N] [--threads N] [--json OUT.json] [--answers] [--only Q1,Q2]
           [--db-file PATH [--keep-db]] [--memory-limit SIZE] [--temp-dir DIR]

Loads an NDJSON event file (as written by `patron export`) into DuckDB (in
memory, or with --db-file in a new on-disk database) as raw typed tables, one
per event type, and times SQL that answers the same questions as Patron's query
language. DuckDB keeps to --memory-limit (default: half of physical memory) and
spills the rest to --temp-dir, so big exports load without exhausting RAM.
Measured with DuckDB 2.0.0 on 2 threads, 1.9M events (343 MB): peak RSS about
1.0 GiB in memory, 0.5 GiB with --db-file; 30.8M events (5.6 GB): 12.1 GiB in
memory (held to the default 11.7 GiB limit by spilling), 3.9 GiB with --db-file.

DuckDB gets the events only: every client value (last activity day, latest
tier, spend, cadence, ...) is computed from the events inside the timed SQL,
the way Patron's projections are.

What is loaded (SPEC 1): `seq` is the event's line number in the file (Patron's
position, the "then position" tie-break); `at` is the UTC instant (the database
time zone is taken to be UTC); `day` is its UTC calendar day. An event whose `id`
was already seen earlier in the file is dropped (Patron's idempotent append).
Money (a JSON number or a string like "$1,450.50") is DECIMAL(18,2); a purchase
without `amount` gets the sum of its items' amounts; an item's quantity defaults
to 1. Merges (`merge{into}`) of day <= the query's today are applied at query
time: each key follows its first merge (by position), through chains, to the key
everything counts under (a merge cycle is not resolved as Patron's replay would).

Each query only counts events with day <= TODAY (Q7: day <= ASOF = TODAY - 365d).
Load time is reported apart from query time; every run executes the SQL again
and fetches the whole result (DuckDB keeps no result cache).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal

try:
    import duckdb
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("duckdb_queries.py: the duckdb package is missing; run scripts/duckdb-venv instead, "
             "or `pip install duckdb`")

# --------------------------------------------------------------------------------
# Loading: the raw event log, then one typed table per event type.

# Every field of every event type (SPEC 1.2). Money and lists arrive as JSON so
# that both `450` and "$450.00" are accepted; unknown extra fields are ignored.
RAW_COLUMNS = {
    "type": "VARCHAR", "id": "VARCHAR", "client": "VARCHAR", "at": "VARCHAR",
    # client
    "name": "VARCHAR", "email": "VARCHAR", "phone": "VARCHAR", "source": "VARCHAR",
    "acquisition_cost": "JSON",
    # visit / purchase
    "location": "VARCHAR", "provider": "VARCHAR", "services": "JSON",
    "amount": "JSON", "items": "JSON", "channel": "VARCHAR",
    # refund / reward / tier / membership / feedback / merge
    "purchase": "VARCHAR", "points": "JSON", "kind": "VARCHAR", "reason": "VARCHAR",
    "tier": "VARCHAR", "plan": "VARCHAR", "action": "VARCHAR", "fee": "JSON",
    "score": "JSON", "comment": "VARCHAR", "visit": "VARCHAR", "into": "VARCHAR",
}

LOAD_SQL = [
    # Money: a JSON number or a string with an optional `$` and `,` separators.
    """CREATE MACRO money(j) AS coalesce(
           TRY_CAST(replace(replace(trim(json_extract_string(j, '$')), '$', ''), ',', '') AS DECIMAL(18,2)),
           TRY_CAST(TRY_CAST(replace(replace(trim(json_extract_string(j, '$')), '$', ''), ',', '') AS DOUBLE)
                    AS DECIMAL(18,2)))""",
    # ISO-8601 `at` (SPEC 1.1/1.4) to extended form: basic dates `19970101`, basic
    # times `T1030[00]`, `,` as the decimal mark. Offsets are left for the cast.
    r"""CREATE MACRO iso_at(s) AS CASE
           WHEN regexp_matches(s, '^\d{8}') THEN
               replace(regexp_replace(regexp_replace(regexp_replace(s,
                   '^(\d{4})(\d{2})(\d{2})', '\1-\2-\3'),
                   '^(\d{4}-\d{2}-\d{2}[T ])(\d{2})(\d{2})(\d{2})', '\1\2:\3:\4'),
                   '^(\d{4}-\d{2}-\d{2}[T ])(\d{2})(\d{2})($|[^\d:])', '\1\2:\3\4'), ',', '.')
           ELSE replace(s, ',', '.') END""",
    # The file in order: with insertion order preserved (set explicitly in
    # connect()), rowid is the line order (blank lines skipped), i.e. Patron's
    # append position. Every column has an explicit type (RAW_COLUMNS), so
    # nothing depends on read_json's type detection over a sample. A main (not
    # TEMP) table, so that with --db-file it is written to the database file.
    "CREATE TABLE raw AS SELECT * FROM read_json($path, format = 'newline_delimited', "
    "columns = $columns, maximum_object_size = 16777216)",
    # The log: every event with its position (materialised here as a plain
    # projection of rowid), UTC instant and UTC day. rowid is used nowhere else:
    # DuckDB 2.0's top_n_window_elimination optimizer mis-binds rowid when a
    # `row_number() OVER (PARTITION BY id ORDER BY rowid) = 1` filter is
    # rewritten into arg_min + semi join (an INTERNAL "result vector of type
    # VARCHAR does not match expression type BIGINT" error on big files).
    """CREATE TABLE log AS
       SELECT * EXCLUDE (ts), CAST(ts AS TIMESTAMP) AS "at", CAST(CAST(ts AS TIMESTAMP) AS DATE) AS day
       FROM (SELECT rowid + 1 AS seq, * EXCLUDE ("at"), "at" AS at_text,
                    TRY_CAST(iso_at("at") AS TIMESTAMPTZ) AS ts
             FROM raw)""",
    "DROP TABLE raw",
    # An `id` seen before is a no-op append: drop every later event with that id
    # (a plain GROUP BY over the materialised seq, no window function).
    """DELETE FROM log USING (
           SELECT id, min(seq) AS first_seq FROM log
           WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1) d
       WHERE log.id = d.id AND log.seq > d.first_seq""",
]

TYPED_SQL = [
    """CREATE TABLE clients AS
       SELECT client, "at", day, seq, name, email, phone, location, source,
              money(acquisition_cost) AS acquisition_cost
       FROM log WHERE type = 'client'""",
    """CREATE TABLE visits AS
       SELECT client, "at", day, seq, location, provider,
              TRY_CAST(services AS VARCHAR[]) AS services
       FROM log WHERE type = 'visit'""",
    # Line items: one row per item, carrying the purchase's client/at/day and row.
    """CREATE TABLE items AS
       SELECT client, "at", day, seq AS purchase_row,
              it ->> 'name' AS name, it ->> 'category' AS category,
              coalesce(TRY_CAST(it ->> 'quantity' AS BIGINT), 1) AS quantity,
              money(it -> 'amount') AS amount
       FROM (SELECT client, "at", day, seq, unnest(TRY_CAST(items AS JSON[])) AS it
             FROM log WHERE type = 'purchase' AND items IS NOT NULL)""",
    # A purchase without `amount` is the sum of its items' amounts (SPEC 1.2).
    """CREATE TABLE purchases AS
       SELECT p.client, p."at", p.day, p.seq,
              coalesce(money(p.amount), i.total, 0)::DECIMAL(18,2) AS amount,
              p.location, p.provider, p.channel
       FROM log p
       LEFT JOIN (SELECT purchase_row, sum(amount) AS total FROM items GROUP BY purchase_row) i
              ON i.purchase_row = p.seq
       WHERE p.type = 'purchase'
       ORDER BY p.seq""",
    """CREATE TABLE refunds AS
       SELECT client, "at", day, seq, money(amount) AS amount, purchase
       FROM log WHERE type = 'refund'""",
    """CREATE TABLE rewards AS
       SELECT client, "at", day, seq, TRY_CAST(json_extract_string(points, '$') AS BIGINT) AS points, kind, reason
       FROM log WHERE type = 'reward'""",
    """CREATE TABLE tiers AS
       SELECT client, "at", day, seq, tier FROM log WHERE type = 'tier'""",
    """CREATE TABLE memberships AS
       SELECT client, "at", day, seq, plan, action, money(fee) AS fee
       FROM log WHERE type = 'membership'""",
    """CREATE TABLE feedback AS
       SELECT client, "at", day, seq, TRY_CAST(json_extract_string(score, '$') AS BIGINT) AS score, comment, visit
       FROM log WHERE type = 'feedback'""",
    """CREATE TABLE forgets AS SELECT client, "at", day, seq FROM log WHERE type = 'forget'""",
    """CREATE TABLE merges AS SELECT client, "at", day, seq, "into" FROM log WHERE type = 'merge'""",
    # The log keeps only what every event has (for "every client with any event").
    """CREATE TABLE events AS SELECT seq, type, client, "at", day FROM log ORDER BY seq""",
    "DROP TABLE log",
]

# Views over the raw tables, evaluated inside each query (nothing is stored):
# the events of day <= d, with each client key replaced by the key it was merged
# into (following merge chains) by a merge of day <= d.
VIEW_SQL = [
    """CREATE MACRO canon(d) AS TABLE
       WITH RECURSIVE
         edge AS (SELECT client AS owner, arg_min("into", seq) AS tgt
                  FROM merges WHERE day <= d AND "into" <> client GROUP BY client),
         walk(key, node, depth) AS (
           SELECT owner, tgt, 1 FROM edge
           UNION ALL
           SELECT w.key, e.tgt, w.depth + 1 FROM walk w JOIN edge e ON e.owner = w.node
           WHERE w.depth < 64 AND e.tgt <> w.key)
       SELECT key, arg_max(node, depth) AS root FROM walk GROUP BY key""",
] + [
    f"""CREATE MACRO {t}_asof(d) AS TABLE
        SELECT coalesce(m.root, t.client) AS client, t.* EXCLUDE (client)
        FROM {t} t LEFT JOIN canon(d) m ON m.key = t.client
        WHERE t.day <= d"""
    for t in ["events", "visits", "purchases", "items", "refunds", "tiers"]
] + [
    # Every client with at least one event (of any type) on or before d.
    """CREATE MACRO clients_asof(d) AS TABLE SELECT DISTINCT client FROM events_asof(d)""",
]

# --------------------------------------------------------------------------------
# The questions. {today} is a DATE literal: TODAY, or ASOF for Q7.

QUERIES: dict[str, dict] = {
    # Patron: clients where lapsed > 90d and tier = gold
    "Q1": {
        "patron": "clients where lapsed > 90d and tier = gold",
        "kind": "clients",
        "sql": """
            WITH activity AS (
                SELECT client, day FROM visits_asof({today})
                UNION ALL
                SELECT client, day FROM purchases_asof({today})),
            last_seen AS (SELECT client, max(day) AS last_seen FROM activity GROUP BY client),
            tier AS (SELECT client, arg_max(tier, ("at", seq)) AS tier
                     FROM tiers_asof({today}) GROUP BY client)
            SELECT client
            FROM last_seen JOIN tier USING (client)
            WHERE {today} - last_seen > 90 AND lower(tier) = 'gold'
            ORDER BY client""",
    },
    # Patron: clients top 10% by spend
    "Q2": {
        "patron": "clients top 10% by spend",
        "kind": "top",
        "sql": """
            WITH c AS (SELECT client FROM clients_asof({today})),
            p AS (SELECT client, sum(amount) AS s FROM purchases_asof({today}) GROUP BY client),
            r AS (SELECT client, sum(amount) AS s FROM refunds_asof({today}) GROUP BY client),
            spend AS (
                SELECT c.client, coalesce(p.s, 0) - coalesce(r.s, 0) AS spend
                FROM c LEFT JOIN p USING (client) LEFT JOIN r USING (client))
            SELECT client, spend
            FROM spend
            QUALIFY row_number() OVER (ORDER BY spend DESC, client)
                    <= (count(*) OVER () * 10 + 99) // 100
            ORDER BY spend DESC, client""",
    },
    # Patron: clients where has visit where services contains "botox"
    #                 and has no purchase where items.category = "filler"
    "Q3": {
        "patron": 'clients where has visit where services contains "botox" '
                  'and has no purchase where items.category = "filler"',
        "kind": "clients",
        "sql": """
            WITH botox AS (
                SELECT DISTINCT client FROM visits_asof({today})
                WHERE list_contains(list_transform(services, lambda s: lower(s)), 'botox')),
            filler AS (
                SELECT DISTINCT client FROM items_asof({today})
                WHERE lower(category) = 'filler')
            SELECT client FROM botox ANTI JOIN filler USING (client)
            ORDER BY client""",
    },
    # Patron: clients group by tier show count(), avg(spend), median(cadence)
    "Q4": {
        "patron": "clients group by tier show count(), avg(spend), median(cadence)",
        "kind": "groups",
        "sql": """
            WITH c AS (SELECT client FROM clients_asof({today})),
            tier AS (SELECT client, arg_max(tier, ("at", seq)) AS tier
                     FROM tiers_asof({today}) GROUP BY client),
            p AS (SELECT client, sum(amount) AS s FROM purchases_asof({today}) GROUP BY client),
            r AS (SELECT client, sum(amount) AS s FROM refunds_asof({today}) GROUP BY client),
            days AS (
                SELECT DISTINCT client, day FROM (
                    SELECT client, day FROM visits_asof({today})
                    UNION ALL
                    SELECT client, day FROM purchases_asof({today}))),
            gaps AS (
                SELECT client, day - lag(day) OVER (PARTITION BY client ORDER BY day) AS gap
                FROM days),
            cadence AS (SELECT client, quantile_cont(gap, 0.5) AS cadence FROM gaps GROUP BY client),
            per_client AS (
                SELECT c.client, tier.tier,
                       CAST((coalesce(p.s, 0) - coalesce(r.s, 0)) * 100 AS BIGINT) AS spend_cents,
                       cadence.cadence
                FROM c
                LEFT JOIN tier USING (client) LEFT JOIN p USING (client)
                LEFT JOIN r USING (client) LEFT JOIN cadence USING (client)),
            g AS (
                SELECT tier, count(*) AS n, sum(spend_cents)::HUGEINT AS cents,
                       quantile_cont(cadence, 0.5) AS median_cadence
                FROM per_client GROUP BY tier)
            SELECT tier, n AS "count()",
                   -- mean money rounded to the cent, halves away from zero (SPEC 3.11)
                   CAST(sign(cents) * ((2 * abs(cents) + n) // (2 * n)) AS DECIMAL(38,0)) / 100
                       AS "avg(spend)",
                   median_cadence AS "median(cadence)"
            FROM g
            ORDER BY lower(tier) NULLS LAST, tier""",
    },
    # Patron: visits where at in last 1y group by provider show count()
    "Q5": {
        "patron": "visits where at in last 1y group by provider show count()",
        "kind": "groups",
        "sql": """
            SELECT provider, count(*) AS "count()"
            FROM visits
            WHERE day > {today} - 365 AND day <= {today}
            GROUP BY provider
            ORDER BY lower(provider) NULLS LAST, provider""",
    },
    # Patron: items group by category, month(at) show sum(amount)
    "Q6": {
        "patron": "items group by category, month(at) show sum(amount)",
        "kind": "groups",
        "sql": """
            SELECT category, strftime(day, '%Y-%m') AS "month(at)", sum(amount) AS "sum(amount)"
            FROM items
            WHERE day <= {today}
            GROUP BY category, "month(at)"
            ORDER BY lower(category) NULLS LAST, category, "month(at)" """,
    },
    # Patron: clients where lapsed > 90d as of ASOF   (ASOF = TODAY - 365d)
    "Q7": {
        "patron": "clients where lapsed > 90d as of {asof}",
        "kind": "clients",
        "asof": True,
        "sql": """
            WITH activity AS (
                SELECT client, day FROM visits_asof({today})
                UNION ALL
                SELECT client, day FROM purchases_asof({today}))
            SELECT client
            FROM activity
            GROUP BY client
            HAVING {today} - max(day) > 90
            ORDER BY client""",
    },
}

# --------------------------------------------------------------------------------
# Checksums that are easy to reproduce from Patron's output.


def canon_value(v) -> str:
    """A value as text: money/decimals to cents, floats to 2 places, null as ''."""
    if v is None:
        return ""
    if isinstance(v, Decimal):
        return str(v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    if isinstance(v, float):
        return str(Decimal(repr(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return str(v)


def sha(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def jsonable(v):
    if isinstance(v, Decimal):
        return float(v)
    return v


def checksum(kind: str, columns: list[str], rows: list[tuple]) -> dict:
    """For client lists: the count, the first 3 ids in byte order and the sha256
    (first 16 hex digits) of the sorted ids joined by newlines. For groups: the
    rows as `key|key|value` text in result order (money and other non-integer
    numbers, e.g. durations in days, to 2 places as `29.00`; counts as integers;
    null as empty), their sha256 and the first 5 rows. For the top list also the
    total and the boundary (last row's) spend."""
    if kind in ("clients", "top"):
        ids = sorted(r[0] for r in rows)
        out = {"count": len(ids), "first": ids[:3], "sha256_16": sha(ids)}
        if kind == "top":
            out["total_spend"] = canon_value(sum((r[1] for r in rows), Decimal(0)))
            out["min_spend"] = canon_value(rows[-1][1]) if rows else None
            out["first_rows"] = [[r[0], jsonable(r[1])] for r in rows[:3]]
        return out
    lines = ["|".join(canon_value(v) for v in r) for r in rows]
    return {"count": len(rows), "columns": columns, "sha256_16": sha(lines),
            "first_rows": [[jsonable(v) for v in r] for r in rows[:5]]}


# --------------------------------------------------------------------------------


def load(con, path: str, on_disk: bool = False) -> tuple[float, int, dict]:
    t0 = time.perf_counter()
    con.execute("SET TimeZone = 'UTC'")  # the database time zone; `at` without an offset is UTC
    for sql in LOAD_SQL:
        if "$path" in sql:
            con.execute(sql, {"path": path, "columns": RAW_COLUMNS})
        else:
            con.execute(sql)
    bad = con.execute(
        "SELECT seq, at_text, type, client FROM log WHERE \"at\" IS NULL OR client IS NULL OR type IS NULL "
        "ORDER BY seq LIMIT 3").fetchall()
    if bad:
        raise SystemExit(f"duckdb_queries.py: {path}: events without a readable type/client/at, "
                         f"e.g. (line, at, type, client) {bad}")
    for sql in TYPED_SQL:
        con.execute(sql)
    if on_disk:
        con.execute("CHECKPOINT")  # the tables written to the database file, the WAL emptied
    seconds = time.perf_counter() - t0
    for sql in VIEW_SQL:
        con.execute(sql)
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    counts = dict(con.execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY type").fetchall())
    return seconds, events, counts


def physical_memory() -> int | None:
    """Bytes of RAM this process may use: the machine's, or a smaller cgroup limit."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(f) as fh:
                v = fh.read().strip()
            if v.isdigit() and int(v) < (1 << 60):
                sizes.append(int(v))
        except OSError:
            pass
    return min(sizes) if sizes else None


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB, macOS bytes)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024


def connect(db_file: str | None, memory_limit: str | None, temp_dir: str, threads: int | None):
    """An in-memory database, or an on-disk one at db_file (new). Either way DuckDB
    keeps to memory_limit and spills what does not fit (intermediates, and for an
    in-memory database also table blocks) to temp_dir, so a file bigger than RAM
    loads instead of being killed by the OOM killer."""
    con = duckdb.connect(db_file or ":memory:")
    con.execute(f"SET temp_directory = '{temp_dir.replace(chr(39), chr(39) * 2)}'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    # rowid = line order relies on it (it is DuckDB's default; said here so it stays so)
    con.execute("SET preserve_insertion_order = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Time Patron's benchmark questions in DuckDB SQL over raw events.")
    ap.add_argument("events", help="NDJSON event file (as written by `patron export`)")
    ap.add_argument("--today", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query (default 5)")
    ap.add_argument("--threads", type=int, help="DuckDB worker threads (default: DuckDB's choice)")
    ap.add_argument("--json", metavar="OUT.json", help="write timings and checksums here")
    ap.add_argument("--answers", action="store_true", help="also print each answer's first rows")
    ap.add_argument("--only", metavar="Q1,Q2", help="run only these queries")
    ap.add_argument("--db-file", metavar="PATH",
                    help="keep the tables in a new on-disk DuckDB database at PATH (compressed, paged in "
                         "and out under --memory-limit) instead of in memory; PATH must not exist and is "
                         "removed afterwards unless --keep-db. For exports much bigger than RAM.")
    ap.add_argument("--keep-db", action="store_true", help="leave the --db-file database in place")
    ap.add_argument("--memory-limit", metavar="SIZE",
                    help="DuckDB's memory_limit, e.g. 8GB (default: half of physical memory); beyond it "
                         "DuckDB spills to --temp-dir")
    ap.add_argument("--temp-dir", metavar="DIR",
                    help="DuckDB's spill directory (default: a new directory under $TMPDIR, removed afterwards)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if not os.path.isfile(args.events):
        ap.error(f"{args.events}: no such file")
    if args.db_file and (os.path.exists(args.db_file) or os.path.exists(args.db_file + ".wal")):
        ap.error(f"--db-file {args.db_file}: already exists; give a new path (the database is built from scratch)")
    if args.keep_db and not args.db_file:
        ap.error("--keep-db needs --db-file")
    memory_limit = args.memory_limit
    if memory_limit is None:
        ram = physical_memory()
        memory_limit = f"{ram // 2 // (1 << 20)}MiB" if ram else None
    elif not re.fullmatch(r"\s*\d+(\.\d+)?\s*[A-Za-z]*\s*", memory_limit):
        ap.error(f"--memory-limit {memory_limit}: expected a size such as 8GB or 512MiB")

    own_temp = args.temp_dir is None
    temp_dir = tempfile.mkdtemp(prefix="duckdb-queries-") if own_temp else args.temp_dir
    try:
        con = connect(args.db_file, memory_limit, temp_dir, args.threads)
        try:
            return run(con, args, temp_dir)
        finally:
            con.close()
    finally:
        if args.db_file and not args.keep_db:
            for f in (args.db_file, args.db_file + ".wal"):
                if os.path.exists(f):
                    os.remove(f)
        if own_temp:
            shutil.rmtree(temp_dir, ignore_errors=True)


def run(con, args, temp_dir: str) -> int:
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    memory_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    storage = f"on disk ({args.db_file})" if args.db_file else "in memory"

    load_seconds, events, counts = load(con, args.events, on_disk=bool(args.db_file))
    load_rss = peak_rss_mib()
    today = args.today
    asof = today - dt.timedelta(days=365)
    print(f"duckdb {duckdb.__version__}, {threads} threads, tables {storage}, memory_limit {memory_limit} "
          f"(spills to {temp_dir})")
    print(f"loaded {events:,} events in {load_seconds:.2f} s, peak RSS so far {load_rss:,.0f} MiB "
          f"({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    print(f"today {today}, as of (Q7) {asof}, {args.runs} runs per query\n")

    only = set(args.only.split(",")) if args.only else None
    results = {}
    header = f"{'query':<6}{'median ms':>12}{'worst ms':>12}{'rows':>10}  patron"
    print(header)
    print("-" * len(header))
    for name, q in QUERIES.items():
        if only and name not in only:
            continue
        day = asof if q.get("asof") else today
        sql = q["sql"].format(today=f"DATE '{day.isoformat()}'")
        patron = q["patron"].format(asof=asof.isoformat())
        times = []
        rows: list[tuple] = []
        columns: list[str] = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            cur = con.execute(sql)
            rows = cur.fetchall()
            times.append((time.perf_counter() - t0) * 1000)
            columns = [d[0] for d in cur.description]
        med, worst = statistics.median(times), max(times)
        results[name] = {"patron": patron, "today": day.isoformat(), "median_ms": round(med, 3),
                         "worst_ms": round(worst, 3), "runs": args.runs, "rows": len(rows),
                         "checksum": checksum(q["kind"], columns, rows)}
        print(f"{name:<6}{med:>12.1f}{worst:>12.1f}{len(rows):>10}  {patron}")
        if args.answers:
            print("      " + json.dumps(results[name]["checksum"]))

    if args.json:
        out = {"engine": f"duckdb {duckdb.__version__}", "threads": threads, "file": args.events,
               "storage": "disk" if args.db_file else "memory", "memory_limit": memory_limit,
               "today": today.isoformat(), "asof": asof.isoformat(),
               "load_seconds": round(load_seconds, 3), "events": events, "events_by_type": counts,
               "load_peak_rss_mib": round(load_rss), "peak_rss_mib": round(peak_rss_mib()),
               "queries": results}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
