#!/usr/bin/env python3
"""Monte Carlo equivalence of two `aviary batch --format json` outputs.

For a change that alters the random stream but must not alter the law of
what is simulated (a faster exact draw, a different draw order): run the
same batch with the old and the new binary and compare every group's
aggregate figures. Rates are compared with a two-proportion z statistic,
means with their 95 % intervals' standard errors; a figure is flagged when
|z| > 4. Over the catalog's ~400 figures the chance of a false flag is
about 400 x 6.3e-5 = 2.5 % (fewer in fact: the runs share every stream
the change did not touch, which makes the two sides positively correlated
and the unpaired test conservative).

Usage: bench/equivalence.py OLD.json NEW.json   (exit 1 on a flag)
"""
import json
import math
import sys

Z_MAX = 4.0


def rates(g):
    runs = g["runs"]
    out = {}
    for key, num, den in [
        ("detection_rate", "detected", "fault_runs"),
        ("escape_rate", "escaped", "fault_runs"),
        ("false_alarm_rate", "false_alarms", None),
    ]:
        d = g[den] if den else (runs if g["healthy"] else runs - g["fault_runs"])
        if d:
            out[key] = (g[num], d)
    for outcome, count in g["outcomes"].items():
        out["outcome." + outcome] = (count, runs)
    return out


def means(g):
    out = {}
    for key, v in g["blast_radius"].items():
        out["blast_radius." + key] = v
    for key in ("error_budget_consumed", "extra_instance_hours"):
        out[key] = g[key]
    return out


def main(old_path, new_path):
    old = {(g["scenario"], g["policy"]): g for g in json.load(open(old_path))["groups"]}
    new = {(g["scenario"], g["policy"]): g for g in json.load(open(new_path))["groups"]}
    if old.keys() != new.keys():
        sys.exit("the two batches have different groups")
    flags, compared, worst = [], 0, (0.0, "")
    for key in sorted(old):
        a, b = old[key], new[key]
        ra, rb = rates(a), rates(b)
        for name in sorted(ra.keys() & rb.keys()):
            (xa, na), (xb, nb) = ra[name], rb[name]
            pool = (xa + xb) / (na + nb)
            se = math.sqrt(pool * (1 - pool) * (1 / na + 1 / nb))
            z = 0.0 if se == 0 else (xb / nb - xa / na) / se
            compared += 1
            worst = max(worst, (abs(z), f"{key[0]} {name}"))
            if abs(z) > Z_MAX:
                flags.append(f"{key[0]} / {key[1]}: {name} {xa}/{na} -> {xb}/{nb} (z = {z:.1f})")
        ma, mb = means(a), means(b)
        for name in sorted(ma.keys() & mb.keys()):
            sa = (ma[name]["ci95"][1] - ma[name]["ci95"][0]) / 3.92
            sb = (mb[name]["ci95"][1] - mb[name]["ci95"][0]) / 3.92
            se = math.hypot(sa, sb)
            diff = mb[name]["mean"] - ma[name]["mean"]
            z = 0.0 if se == 0 else diff / se
            compared += 1
            worst = max(worst, (abs(z), f"{key[0]} {name}"))
            if abs(z) > Z_MAX or (se == 0 and diff != 0):
                flags.append(f"{key[0]} / {key[1]}: {name} {ma[name]['mean']} -> {mb[name]['mean']} (z = {z:.1f})")
    print(f"{compared} figures over {len(old)} groups compared; largest |z| = {worst[0]:.2f} ({worst[1]})")
    for f in flags:
        print("DIFFERENT:", f)
    sys.exit(1 if flags else 0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
