"""
The benchmark's second baseline: the three summary tables of every production day in a range
(summary_prod_test, summary_machine, summary_prod; metrics.md §3-§7) computed the way an engineer
would write it in pandas: read the test records with pandas.read_sql, clean, de-duplicate, number
the attempts, group by. Day periods only (no weeks, no rejects table, nothing written to a
database): the benchmark compares its numbers with the nightly summary's day rows.

Runs on Debian's packages (apt-get install -y python3-pandas python3-psycopg2), with /usr/bin/python3:

  /usr/bin/python3 tests/bench/pandas_summary.py --url sqlite:/path/file.sqlite --from 2026-10-12 --to 2026-11-10 --out out.json
  /usr/bin/python3 tests/bench/pandas_summary.py --url postgres://postgres@127.0.0.1:5432/test --schema yr_bench_x ...

Writes the rows as JSON to --out, and prints one JSON line: seconds (read to result, without the
interpreter's start and the imports), peak RSS in MB, rows read.
"""
import argparse
import json
import resource
import sqlite3
import time
import warnings

import numpy as np
import pandas as pd

COLUMNS = {
    "SerialNum": "serial",
    "ProductName": "product",
    "TestName": "test",
    "MachineID": "machine",
    "TestTimeStamp": "ts",
    "TestResult": "result",
    "TestDuration_s": "dur",
}
PASS = {"PASS", "P", "OK"}
FAIL = {"FAIL", "F", "NG"}
WS = " \t\r\n"


def connect(url):
    if url.startswith("sqlite:"):
        return sqlite3.connect(url[len("sqlite:"):])
    import psycopg2

    # pandas warns that it has not tested psycopg2 without SQLAlchemy (not a Debian dependency); it works.
    warnings.filterwarnings("ignore", message="pandas only supports SQLAlchemy")
    return psycopg2.connect(url)


def read(url, schema, history_from):
    table = f'"{schema}"."test_records"' if schema else '"test_records"'
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    conn = connect(url)
    try:
        ph = "?" if url.startswith("sqlite:") else "%s"
        df = pd.read_sql(f'SELECT {cols} FROM {table} WHERE "TestTimeStamp" >= {ph} OR "TestTimeStamp" IS NULL', conn, params=[history_from])
    finally:
        conn.close()
    return df.rename(columns=COLUMNS)


def clean(df):
    """Trimmed values, parsed time and duration, and each row's reject reason (metrics.md §3)."""
    for c in ["serial", "product", "test", "machine", "result"]:
        df[c] = df[c].str.strip(WS).replace("", np.nan)
    ts = df["ts"]
    present = ts.notna() if ts.dtype.kind == "M" else ts.astype("string").str.strip(WS).fillna("") != ""
    present = present.to_numpy(dtype=bool)
    parsed = pd.to_datetime(ts, errors="coerce")
    parsed = parsed.where((parsed >= pd.Timestamp("1970-01-01")) & (parsed < pd.Timestamp("2100-01-01")))
    df["ts"] = parsed
    upper = df["result"].str.upper()
    df["result"] = np.where(upper.isin(PASS), "PASS", np.where(upper.isin(FAIL), "FAIL", None))
    dur = pd.to_numeric(df["dur"], errors="coerce")
    dur_present = df["dur"].notna()
    dur = dur.where(np.isfinite(dur))
    df["dur"] = dur
    too_long = np.zeros(len(df), dtype=bool)
    for c in ["serial", "product", "test", "machine"]:
        too_long |= df[c].str.len().fillna(0).to_numpy() > 100
    df["reason"] = np.select(
        [
            df["serial"].isna(),
            df["product"].isna(),
            df["test"].isna(),
            df["machine"].isna(),
            too_long,
            ~present,
            df["ts"].isna(),
            df["result"].isna(),
            dur_present & dur.isna(),
            dur < 0,
        ],
        ["missing_serial", "missing_product", "missing_test", "missing_machine", "value_too_long",
         "missing_timestamp", "bad_timestamp", "bad_result", "bad_duration", "negative_duration"],
        default="",
    )
    valid = df[df["reason"] == ""].drop(columns="reason")
    # A serial's product is that of its earliest valid row, ties to the smaller name.
    owner = valid.sort_values(["serial", "ts", "product"]).drop_duplicates("serial")[["serial", "product", "ts"]]
    owner.columns = ["serial", "owner", "first_ts"]
    valid = valid.merge(owner, on="serial")
    return valid[valid["product"] == valid["owner"]], owner


def production_day(ts, mode, tz, day_start):
    if mode == "utc":
        ts = ts.dt.tz_localize("UTC").dt.tz_convert(tz).dt.tz_localize(None)
    return (ts - day_start).dt.strftime("%Y-%m-%d")


def summarise(valid, owner, days, max_attempts, day_of):
    # Exact duplicates count once; grouped in the attempt order (FAIL before PASS on a tie).
    att = (
        valid.groupby(["serial", "test", "ts", "machine", "result"], sort=True)
        .agg(product=("product", "first"), dur=("dur", "min"))
        .reset_index()
    )
    att["n"] = att.groupby(["serial", "test"]).cumcount() + 1
    att["is_pass"] = att["result"] == "PASS"
    att["day"] = day_of(att["ts"])

    # Attempts in the period, by the attempt's own machine.
    a = att[att["day"].isin(days)].copy()
    a["pass_dur"] = a["dur"].where(a["is_pass"])
    a["fail_dur"] = a["dur"].where(~a["is_pass"])
    attempt_aggs = dict(
        test_count=("n", "size"),
        pass_count=("is_pass", "sum"),
        pass_dur_sum=("pass_dur", "sum"),
        pass_dur_n=("pass_dur", "count"),
        fail_dur_sum=("fail_dur", "sum"),
        fail_dur_n=("fail_dur", "count"),
    )

    # Unit-tests of the period's cohort (the day and machine of attempt 1).
    first = att[att["n"] == 1][["serial", "test", "product", "day", "machine", "is_pass"]]
    fp_n = att[att["is_pass"]].groupby(["serial", "test"])["n"].min().rename("fp_n")
    cnt = att.groupby(["serial", "test"]).size().rename("cnt")
    units = first.join(fp_n, on=["serial", "test"]).join(cnt, on=["serial", "test"])
    units = units[units["day"].isin(days)].copy()
    m = max_attempts
    units["units_tested"] = 1
    units["first_pass_units"] = units["is_pass"].astype(int)
    units["passed_units"] = (units["fp_n"] <= m).astype(int)
    units["scrapped_units"] = ((units["fp_n"].isna() | (units["fp_n"] > m)) & (units["cnt"] >= m)).astype(int)
    units["retest_count"] = np.minimum(units["fp_n"].fillna(units["cnt"]), m).astype(int) - 1
    cohort_cols = ["units_tested", "first_pass_units", "passed_units", "scrapped_units", "retest_count"]

    def table(keys_attempt, keys_unit, names):
        x = a.groupby(keys_attempt).agg(**attempt_aggs)
        x.index.names = names
        y = units.groupby(keys_unit)[cohort_cols].sum()
        y.index.names = names
        t = x.join(y, how="outer").fillna(0).reset_index()
        return rates(t)

    prod_test = table(["day", "product", "test"], ["day", "product", "test"], ["day", "product", "test"])
    machine = table(["day", "machine"], ["day", "machine"], ["day", "machine"])

    # Products: sums over their tests, rolled yields over the tests' yields in test-name order.
    prod = prod_test.groupby(["day", "product"])[
        ["test_count", "pass_count", "pass_dur_sum", "pass_dur_n", "fail_dur_sum", "fail_dur_n"] + cohort_cols
    ].sum()
    ordered = prod_test.sort_values(["day", "product", "test"])
    prod["rolled_first_pass_yield"] = ordered.groupby(["day", "product"])["first_pass_yield"].agg(rolled)
    prod["rolled_cumulative_yield"] = ordered.groupby(["day", "product"])["cumulative_yield"].agg(rolled)
    loaded = owner.assign(day=day_of(owner["first_ts"]))
    load = loaded[loaded["day"].isin(days)].groupby(["day", "owner"]).size()
    load.index.names = ["day", "product"]
    scrapped = units[units["scrapped_units"] == 1].groupby(["day", "product"])["serial"].nunique()
    prod = prod.join(load.rename("load_qty"), how="outer").join(scrapped.rename("scrapped_serials"))
    count_cols = ["test_count", "pass_count", "pass_dur_n", "fail_dur_n", "load_qty", "scrapped_serials"] + cohort_cols
    prod[count_cols] = prod[count_cols].fillna(0)
    prod = rates(prod.reset_index(), yields=False)
    return prod_test, machine, prod


def rates(t, yields=True):
    t["fail_count"] = t["test_count"] - t["pass_count"]
    t["passing_rate"] = t["pass_count"] / t["test_count"].replace(0, np.nan)
    t["pending_units"] = t["units_tested"] - t["passed_units"] - t["scrapped_units"]
    if yields:
        t["first_pass_yield"] = t["first_pass_units"] / t["units_tested"].replace(0, np.nan)
        t["cumulative_yield"] = t["passed_units"] / t["units_tested"].replace(0, np.nan)
    t["avg_duration_pass_s"] = t["pass_dur_sum"] / t["pass_dur_n"].replace(0, np.nan)
    t["avg_duration_fail_s"] = t["fail_dur_sum"] / t["fail_dur_n"].replace(0, np.nan)
    return t


def rolled(yields):
    present = yields.dropna()
    return np.prod(present.to_numpy()) if len(present) else np.nan


def records(df):
    df = df.drop(columns=["pass_dur_sum", "pass_dur_n", "fail_dur_sum", "fail_dur_n"]).rename(columns={"day": "period_start"})
    return json.loads(df.to_json(orient="records", double_precision=15))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--schema")
    p.add_argument("--from", dest="start", required=True)
    p.add_argument("--to", dest="end", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timezone", default="Europe/Berlin")
    p.add_argument("--day-start", default="06:00")
    p.add_argument("--timestamps", choices=["local", "utc"], default="local")
    p.add_argument("--max-attempts", type=int, default=3)
    p.add_argument("--history-days", type=int, default=30)
    a = p.parse_args()
    hours, minutes = (int(x) for x in a.day_start.split(":"))
    day_start = pd.Timedelta(hours=hours, minutes=minutes)
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(a.start, a.end)]
    # Rows from the history before the first day on, as the summary reads them (a bound a little
    # early in UTC mode reads a few rows more, never fewer).
    history_from = (pd.Timestamp(a.start) - pd.Timedelta(days=a.history_days + 1)).strftime("%Y-%m-%d")

    t0 = time.perf_counter()
    df = read(a.url, a.schema, history_from)
    rows_read = len(df)
    valid, owner = clean(df)
    del df
    prod_test, machine, prod = summarise(valid, owner, days, a.max_attempts, lambda ts: production_day(ts, a.timestamps, a.timezone, day_start))
    seconds = time.perf_counter() - t0

    with open(a.out, "w") as f:
        json.dump({"prod_test": records(prod_test), "machine": records(machine), "prod": records(prod)}, f)
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "maxRssMb": max_rss_mb, "rows": rows_read}))


if __name__ == "__main__":
    main()
