"""The lab's kind of log analysis, for benches/ingest.rs: pandas and regular
expressions over every cell's bench.log, one summary row per cell (the
measured inferences' latency mean, median, p95 and standard deviation; mean
T_prod and T_idle without each inference's first kernel; mean T_ker).

    python ingest_pandas.py CELLS_DIR SUMMARY_CSV
"""

import glob
import os
import re
import sys

import pandas as pd

KERNEL = re.compile(
    r"^KLO v1 net=(\S+) iter=(\d+) kernel=(\d+) name=(\S+) t_prod_us=(\S+) "
    r"t_ker_us=(\S+) t_idle_us=(\S+) flush=(\d+) k=(\d+)",
    re.M,
)
INFERENCE = re.compile(
    r"^KLO v1 net=(\S+) iter=(\d+) latency_us=(\S+) flushes=(\d+) k_mean=(\S+)", re.M
)
KERNEL_COLUMNS = ["net", "iter", "kernel", "name", "t_prod_us", "t_ker_us", "t_idle_us", "flush", "k"]
INFERENCE_COLUMNS = ["net", "iter", "latency_us", "flushes", "k_mean"]


def summarize(cell, text):
    k = pd.DataFrame(KERNEL.findall(text), columns=KERNEL_COLUMNS)
    k = k.astype({"iter": int, "kernel": int, "t_prod_us": float, "t_ker_us": float, "flush": int, "k": int})
    k["t_idle_us"] = pd.to_numeric(k["t_idle_us"], errors="coerce")
    inf = pd.DataFrame(INFERENCE.findall(text), columns=INFERENCE_COLUMNS)
    inf = inf.astype({"iter": int, "latency_us": float, "flushes": int, "k_mean": float})
    # The first inference is a warm-up; each inference's first kernel has
    # no T_prod worth counting and no T_idle.
    k = k[k["iter"] > 0]
    inf = inf[inf["iter"] > 0]
    first = k["kernel"] == k.groupby("iter")["kernel"].transform("min")
    lat = inf["latency_us"]
    return {
        "id": cell,
        "n": len(inf),
        "latency_mean_us": lat.mean(),
        "latency_median_us": lat.median(),
        "latency_p95_us": lat.quantile(0.95),
        "latency_std_us": lat.std(),
        "t_prod_mean_us": k.loc[~first, "t_prod_us"].mean(),
        "t_ker_mean_us": k["t_ker_us"].mean(),
        "t_idle_mean_us": k.loc[~first, "t_idle_us"].mean(),
        "flushes_mean": inf["flushes"].mean(),
        "k_mean": inf["k_mean"].mean(),
    }


def main():
    cells, out = sys.argv[1], sys.argv[2]
    rows = []
    for log in sorted(glob.glob(os.path.join(cells, "**", "bench.log"), recursive=True)):
        # cells/<id>/r<round>/bench.log: the cell's id is the folder above
        # the round's (the campaign has one round).
        cell = os.path.relpath(os.path.dirname(os.path.dirname(log)), cells)
        with open(log) as f:
            rows.append(summarize(cell, f.read()))
    pd.DataFrame(rows).sort_values("id").to_csv(out, index=False, float_format="%.1f")


if __name__ == "__main__":
    main()
