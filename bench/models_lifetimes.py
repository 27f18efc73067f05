"""The Python side of the model benchmark (issue 6), run by scripts/bench-models.

  summaries  per-client summaries for both sides: x, t_x, T (weeks) from
             `patron query "clients where active_days > 0 show id, active_days,
             first_seen, last_seen"` and the Gamma-Gamma monetary value computed here
             from `patron export` (NDJSON); writes `client,x,tx,T,monetary`.
             Standard library only.
  fit        fits lifetimes' BetaGeoFitter, ModifiedBetaGeoFitter and GammaGammaFitter
             (penalizer 0) on such a file, timing only the .fit() calls; writes JSON.
             Needs lifetimes (scripts/bench-models makes a virtual environment).
  report     the Markdown tables from patron-modelbench's and this script's JSON.
             Standard library only.

Definitions (SPEC 5.1, 5.2): activity days are days (in UTC, the databases' time
zone here) with a visit or a purchase, on or before today; x = activity days - 1,
t_x = (last - first activity day) / 7, T = (today - first activity day) / 7. A day's
value is its purchases (amount, else the sum of items[].amount) minus its refunds; a
refund on a day without a visit or purchase belongs to no activity day. The monetary
value is the mean value of the repeat activity days (all but the first); 0 when x = 0.
"""
import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import math
import re
import signal
import sys
import time

EPOCH = dt.date(1970, 1, 1).toordinal()


def day_number(text, cache={}):
    """Days since 1970-01-01 of an `at` value (a date or an ISO time), in UTC."""
    if len(text) == 10:
        key = text
    elif text.endswith("Z"):
        key = text[:10]
    else:
        t = dt.datetime.fromisoformat(text)
        if t.tzinfo is not None:
            t = t.astimezone(dt.timezone.utc)
        return t.date().toordinal() - EPOCH
    d = cache.get(key)
    if d is None:
        d = cache[key] = dt.date.fromisoformat(key).toordinal() - EPOCH
    return d


def cents(v):
    return int(round(float(v) * 100))


def purchase_cents(e):
    if e.get("amount") is not None:
        return cents(e["amount"])
    items = e.get("items")
    if items:
        amounts = [i.get("amount") for i in items if i.get("amount") is not None]
        if amounts:
            return sum(cents(a) for a in amounts)
    return None


def summaries(args):
    today = day_number(args.today)
    # client -> {day: purchase cents}, the activity days; client -> {day: refund cents}.
    activity = {}
    refunds = {}
    n = 0
    began = time.perf_counter()
    with open(args.events, "rb") as f:
        for line in f:
            e = json.loads(line)
            t = e.get("type")
            if t not in ("visit", "purchase", "refund"):
                continue
            d = day_number(e["at"])
            if d > today:
                continue
            c = e["client"]
            if t == "refund":
                if e.get("amount") is not None:
                    r = refunds.setdefault(c, {})
                    r[d] = r.get(d, 0) + cents(e["amount"])
                continue
            days = activity.get(c)
            if days is None:
                days = activity[c] = {}
            v = purchase_cents(e) if t == "purchase" else None
            days[d] = days.get(d, 0) + (v or 0)
            n += 1
            if n % 5_000_000 == 0:
                print(f"  {n:,} visits and purchases read", file=sys.stderr)
    print(f"  events read in {time.perf_counter() - began:.1f} s: {len(activity):,} clients with activity",
          file=sys.stderr)

    mismatches = []
    rows = 0
    with open(args.clients) as f, open(args.out, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["client", "x", "tx", "T", "monetary"])
        for row in csv.DictReader(f):
            c = row["id"]
            active = int(row["active_days"])
            first = day_number(row["first_seen"])
            last = day_number(row["last_seen"])
            x = active - 1
            tx = (last - first) / 7
            T = (today - first) / 7
            days = activity.pop(c, {})
            ordered = sorted(days)
            if len(ordered) != active or (ordered and (ordered[0] != first or ordered[-1] != last)):
                mismatches.append((c, active, row["first_seen"], row["last_seen"], len(ordered),
                                   ordered[:1], ordered[-1:]))
            monetary = 0.0
            if x > 0 and ordered:
                r = refunds.get(c, {})
                total = sum(days[d] - r.get(d, 0) for d in ordered[1:])
                monetary = total / x / 100
            w.writerow([c, x, repr(tx), repr(T), repr(monetary)])
            rows += 1
    extra = len(activity)
    print(f"  {rows:,} summaries written to {args.out}", file=sys.stderr)
    if mismatches or extra:
        print(f"summaries: patron's active_days/first_seen/last_seen disagree with the export for "
              f"{len(mismatches):,} clients, and {extra:,} clients with activity in the export are missing "
              f"from the query; first: {mismatches[:5]}", file=sys.stderr)
        sys.exit(1)
    print("  x, t_x, T from patron's query agree with the export for every client", file=sys.stderr)


class Stopped(Exception):
    pass


def timed_fit(name, fit, timeout, runs=1):
    """Runs fit() `runs` times, each under a timeout (SIGALRM); returns (the fastest
    run's seconds, the last fitter or None, note, every run's seconds). A run that
    fails or is stopped ends the repeats."""
    times = []
    fitter = None
    for _ in range(max(1, runs)):
        seconds, fitter, note = _timed_fit_once(fit, timeout)
        times.append(seconds)
        if note:
            return seconds, None, note, times
    return min(times), fitter, "", times


def _timed_fit_once(fit, timeout):
    def alarm(signum, frame):
        raise Stopped()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(int(timeout))
    began = time.perf_counter()
    printed = io.StringIO()  # lifetimes prints scipy's OptimizeResult when it gives up
    try:
        with contextlib.redirect_stdout(printed):
            fitter = fit()
        seconds = time.perf_counter() - began
        return seconds, fitter, ""
    except Stopped:
        return time.perf_counter() - began, None, "stopped"
    except Exception as e:  # a ConvergenceError and the like: report it
        seconds = time.perf_counter() - began
        text = printed.getvalue()
        print(text, file=sys.stderr)
        why = f"{type(e).__name__}"
        m = re.search(r"message: (.*)", text)
        if m:
            why += f" (scipy: {m.group(1).strip()})"
        x = re.search(r"\bx: \[([^\]]*)\]", text)
        if x:
            try:
                point = [math.exp(float(v)) for v in x.group(1).split()]
                why += "; its last point, exp(x): " + " ".join(f"{v:.4g}" for v in point)
            except ValueError:
                pass
        return seconds, None, why
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fit(args):
    import warnings
    import numpy as np
    import pandas as pd
    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter

    warnings.simplefilter("ignore")
    df = pd.read_csv(args.summaries, dtype={"client": str})
    if args.limit and len(df) > args.limit:
        df = df.sample(n=args.limit, random_state=1).reset_index(drop=True)
        sampled = True
    else:
        sampled = False
    freq = df["x"].to_numpy()
    rec = df["tx"].to_numpy()
    T = df["T"].to_numpy()
    # lifetimes checks recency <= T and frequency >= 0 itself; Patron clamps t_x into [0, T]
    # (it never needs to on these data).
    gg = df[(df["x"] > 0) & (df["monetary"] > 0)]
    result = {
        "versions": {
            "python": sys.version.split()[0], "lifetimes": lifetimes.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "scipy": __import__("scipy").__version__,
            "autograd": _version("autograd"),
        },
        "rows": int(len(df)), "gg_rows": int(len(gg)), "sampled": sampled, "models": {},
    }

    def record(key, fitter_name, timing, names, clients):
        seconds, fitter, note, times = timing
        entry = {"seconds": seconds, "note": note, "clients": int(clients), "fitter": fitter_name, "runs": times}
        if fitter is not None:
            entry["params"] = {k: float(fitter.params_[k]) for k in names}
        result["models"][key] = entry
        shown = ", ".join(f"{k}={v:.6g}" for k, v in entry.get("params", {}).items())
        print(f"  lifetimes {key}: {seconds:.2f} s {note} {shown} (runs: {', '.join(f'{t:.3f}' for t in times)})",
              file=sys.stderr)

    todo = args.models.split(",")
    for weighted in ([False, True] if args.weighted else [False]):
        suffix = "+weights" if weighted else ""

        def agg(cols, frame):
            # Identical rows merged with weights, as Fader and Hardie (and Patron) do;
            # the groupby is inside the timed call.
            g = frame.groupby(cols, sort=False).size().reset_index(name="w")
            return g

        if "bgnbd" in todo:
            def f_bg():
                if weighted:
                    g = agg(["x", "tx", "T"], df)
                    return BetaGeoFitter(penalizer_coef=0.0).fit(g["x"], g["tx"], g["T"], weights=g["w"])
                return BetaGeoFitter(penalizer_coef=0.0).fit(freq, rec, T)
            timing = timed_fit("bgnbd", f_bg, args.timeout, args.runs)
            record("bgnbd" + suffix, "BetaGeoFitter", timing, ["r", "alpha", "a", "b"], len(df))
        if "mbgnbd" in todo:
            def f_mbg():
                if weighted:
                    g = agg(["x", "tx", "T"], df)
                    return ModifiedBetaGeoFitter(penalizer_coef=0.0).fit(g["x"], g["tx"], g["T"], weights=g["w"])
                return ModifiedBetaGeoFitter(penalizer_coef=0.0).fit(freq, rec, T)
            timing = timed_fit("mbgnbd", f_mbg, args.timeout, args.runs)
            record("mbgnbd" + suffix, "ModifiedBetaGeoFitter", timing, ["r", "alpha", "a", "b"], len(df))
        if "gammagamma" in todo:
            def f_gg():
                if weighted:
                    g = agg(["x", "monetary"], gg)
                    return GammaGammaFitter(penalizer_coef=0.0).fit(g["x"], g["monetary"], weights=g["w"])
                return GammaGammaFitter(penalizer_coef=0.0).fit(gg["x"], gg["monetary"])
            timing = timed_fit("gammagamma", f_gg, args.timeout, args.runs)
            record("gammagamma" + suffix, "GammaGammaFitter", timing, ["p", "q", "v"], len(gg))

    if args.check_cdnow:
        expect = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                  "gammagamma": {"p": 6.25, "q": 3.74, "v": 15.44}}
        bad = []
        for model, params in expect.items():
            got = result["models"].get(model, {}).get("params")
            for k, v in params.items():
                if got is None or abs(got[k] - v) > 0.01 * abs(v):
                    bad.append(f"{model}.{k} = {None if got is None else got[k]} (published {v})")
        result["cdnow_check"] = "ok" if not bad else "; ".join(bad)
        print(f"  CDNOW check against the published fits: {result['cdnow_check']}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


def _version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "?"


# ---------------------------------------------------------------- report

PARAMS = {"bgnbd": ["r", "alpha", "a", "b"], "mbgnbd": ["r", "alpha", "a", "b"], "gammagamma": ["p", "q", "gamma"]}
LIFETIMES_NAME = {"gamma": "v"}
MODEL_NAME = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "gammagamma": "Gamma-Gamma"}


def fmt_s(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "–"
    if s < 0.01:
        return f"{s * 1000:.1f} ms"
    if s < 10:
        return f"{s:.2f} s"
    return f"{s:.1f} s"


def fmt_p(params, names):
    if not params:
        return "–"
    return " ".join(f"{n}={params[n]:.4g}" for n in names)


def median(xs):
    s = sorted(xs)
    if not s:
        return float("nan")
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def report(args):
    sets = []
    for spec in args.set:
        name, patron_json, lifetimes_json = (spec.split("|") + ["", ""])[:3]
        with open(patron_json) as f:
            p = json.load(f)
        lt = None
        if lifetimes_json:
            try:
                with open(lifetimes_json) as f:
                    lt = json.load(f)
            except FileNotFoundError:
                lt = None
        sets.append((name, p, lt))

    out = []
    out.append("| data set | clients with activity | model | clients fitted | Patron `db.fit`, the model's fit "
               "(first run / best of the others) | Patron from the summaries file (incl. merging identical rows) | "
               "lifetimes, per-client rows | lifetimes, weights= (incl. the groupby) | "
               "speed-up vs lifetimes per-client (`db.fit` / from file) | speed-up vs lifetimes weights= "
               "(`db.fit` / from file) | Patron parameters | lifetimes parameters | max rel. diff |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    totals = []

    def lifetimes_time(entry):
        if entry is None:
            return "–"
        if not entry.get("note"):
            return fmt_s(entry["seconds"])
        if entry["note"] == "stopped":
            return f"> {entry['seconds']:.0f} s (stopped)"
        return f"{fmt_s(entry['seconds'])}, {entry['note']}"

    def speedups(entry, m_best, m_sum):
        if entry is None or entry.get("note"):
            return "–"
        def ratio(base):
            if not base:
                return "–"
            r = entry["seconds"] / base
            return f"{r:,.0f}×" if r >= 10 else f"{r:.1f}×"
        return ratio(m_best) + (f" / {ratio(m_sum)}" if m_sum is not None else "")

    for name, p, lt in sets:
        runs = p["fit_runs"]
        first, rest = runs[0], runs[1:] or runs[:1]
        clients = first["clients"]
        totals.append((name, clients, first["wall"], min(r["wall"] for r in rest), len(runs)))
        srun = p.get("summary_fit_runs") or []
        for model in ("bgnbd", "mbgnbd", "gammagamma"):
            names = PARAMS[model]
            m_first = first[model]["seconds"]
            m_best = min(r[model]["seconds"] for r in rest)
            m_sum = min(r[model]["seconds"] for r in srun) if srun else None
            pp = runs[-1][model]["params"]
            conv = all(r[model]["converged"] for r in runs)
            lfit = (lt or {}).get("models", {}).get(model)
            lw = (lt or {}).get("models", {}).get(model + "+weights")
            lparams, diff = "–", "–"
            for entry, tag in ((lfit, ""), (lw, " (weights=)")):
                if entry is not None and entry.get("params"):
                    lp = {n: entry["params"][LIFETIMES_NAME.get(n, n)] for n in names}
                    lparams = fmt_p(lp, names) + tag
                    diff = f"{max(abs(pp[n] - lp[n]) / abs(lp[n]) for n in names):.1e}"
                    break
            if lt and lt.get("sampled") and model != "gammagamma":
                lparams += f" (on a sample of {lt['rows']:,})"
            fitted = runs[-1][model]["clients"]
            out.append(f"| {name} | {clients:,} | {MODEL_NAME[model]}{'' if conv else ' (NOT converged)'} | "
                       f"{fitted:,} | {fmt_s(m_first)} / {fmt_s(m_best)} | {fmt_s(m_sum)} | {lifetimes_time(lfit)} | "
                       f"{lifetimes_time(lw)} | {speedups(lfit, m_best, m_sum)} | {speedups(lw, m_best, m_sum)} | "
                       f"{fmt_p(pp, names)} | {lparams} | {diff} |")
    out.append("")
    out.append("| data set | clients with activity | `db.fit` end to end, first run in the process | "
               "best of the other runs | runs |")
    out.append("|---|---:|---:|---:|---:|")
    for name, clients, w1, wb, n in totals:
        out.append(f"| {name} | {clients:,} | {fmt_s(w1)} | {fmt_s(wb) if n > 1 else '–'} | {n} |")
    queries = [(name, q) for name, p, _ in sets for q in p.get("queries", [p["query"]] if "query" in p else [])]
    if queries:
        out.append("")
        out.append("| data set | query | model | first run after the fit | min | median | max | runs | rows | "
                   "cold `patron query` (new process) |")
        out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        cold = dict(c.split("=", 1) for c in (args.cold or []))
        shown = set()
        for name, q in queries:
            # The cold process ran the first query only.
            c = cold.get(name, "–") if name not in shown else "–"
            shown.add(name)
            out.append(f"| {name} | `{q['text']}` | {q['model']} | {q['first_ms']:.1f} ms | {q['min_ms']:.1f} ms | "
                       f"{q['median_ms']:.1f} ms | {q['max_ms']:.1f} ms | {q['runs']} | {q['rows']:,} | {c} |")
    versions = next((lt["versions"] for _, _, lt in sets if lt), None)
    if versions:
        out.append("")
        out.append("lifetimes side: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    checks = [(name, lt.get("cdnow_check")) for name, _, lt in sets if lt and lt.get("cdnow_check")]
    for name, c in checks:
        out.append(f"{name}: lifetimes on the exported summaries against the published CDNOW fits: {c}")
    out.extend(args.note)
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summaries")
    s.add_argument("--clients", required=True, help="CSV of patron's query: id, active_days, first_seen, last_seen")
    s.add_argument("--events", required=True, help="patron export (NDJSON)")
    s.add_argument("--today", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(run=summaries)
    f = sub.add_parser("fit")
    f.add_argument("summaries")
    f.add_argument("--out", required=True)
    f.add_argument("--models", default="bgnbd,mbgnbd,gammagamma")
    f.add_argument("--timeout", type=float, default=1200, help="seconds per fit before it is stopped")
    f.add_argument("--runs", type=int, default=1, help="fit each model this many times; the fastest counts")
    f.add_argument("--limit", type=int, default=0, help="fit a random sample of this many clients")
    f.add_argument("--weighted", action="store_true", help="also fit with identical rows merged (weights=)")
    f.add_argument("--check-cdnow", action="store_true")
    f.set_defaults(run=fit)
    r = sub.add_parser("report")
    r.add_argument("--set", action="append", required=True, help="NAME|patron.json|lifetimes.json")
    r.add_argument("--cold", action="append", help="NAME=text of the cold query time")
    r.add_argument("--note", action="append", default=[], help="a line to print under the tables")
    r.set_defaults(run=report)
    args = ap.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
