#!/usr/bin/env python3
"""Benchmark aviary against a per-request SimPy model of the same rollout.

Sections of the report:

  (a) per run     aviary's `simpy-peer` batch vs `simpy_model.py` at 1000 req/s
                  for 3600 s: seconds per run for each, and their ratio.
  (b) traffic     the same batch at 100 and 10000 req/s: aviary's cost should
                  not depend on traffic volume (target t(10000)/t(100) <= 1.5).
  (c) threads     a larger batch on 1 and 2 threads: speed-up, and whether the
                  two outputs are byte-identical (they must be).
  (d) agreement   the SimPy model's request count and rollback time per seed,
                  beside aviary's detection figures from the batch of (a).
  (e) draw-only   bench/drawbound: each catalog scenario's engine run against a
                  replay of only the random draws it made (same samplers, same
                  generator, no simulation state); engine / draw-only.
  (f) main job    `batch --seeds N --format table` on the catalog (the README's
                  main job) with this binary and with the engine as it stood
                  before the scale work (git revision BASELINE_REV, built here),
                  alternating; old / new.

Needs python3 (stdlib) and, unless --skip-simpy, the simpy package:

    python3 -m venv .venv && .venv/bin/pip install simpy
    cargo build --release -p cli
    .venv/bin/python bench/bench.py            # or --quick, --json

Exit status: 0 done, 1 the thread outputs differ, 2 an error.
"""
import argparse
import importlib.util
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SIMPY_MODEL = BENCH_DIR / "simpy_model.py"

SCENARIO = "simpy-peer"
POLICY = "simpy-peer"
SIMPY_RPS = 1000
SIMPY_DURATION_S = 3600
FAULT_ONSET_S = 1500.0
REFERENCE_ROLLBACK_T = 1560.0    # onset 1500 s, caught at the next 60 s check
RPS_LOW, RPS_HIGH = 100, 10000
RPS_RATIO_TARGET = 1.5

# The engine when the scale work (issue 15) was filed: the main job's
# baseline for (f).
BASELINE_REV = "a33ed98"

DEFAULTS = {"seeds": 200, "threads_seeds": 10000, "reps": 3, "simpy_reps": 3,
            "draw_runs": 40, "main_seeds": 1000, "main_reps": 2}
QUICK = {"seeds": 20, "threads_seeds": 200, "reps": 3, "simpy_reps": 1,
         "draw_runs": 5, "main_seeds": 100, "main_reps": 1}


class BenchError(Exception):
    """A step of the benchmark could not run; the message says why."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- running

def run(argv):
    """Run a command once; return (wall seconds, stdout bytes)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise BenchError(f"cannot run `{shlex.join(argv)}`: {e}") from e
    wall_s = time.perf_counter() - t0
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        tail = "\n".join(err.splitlines()[-15:])
        raise BenchError(f"`{shlex.join(argv)}` exited with status "
                         f"{proc.returncode}" + (f":\n{tail}" if tail else ""))
    return wall_s, proc.stdout


def time_command(argv, reps):
    """Run a command `reps` times; return its timings and its last stdout."""
    log(f"  {shlex.join(argv)}  (x{reps})")
    walls, out = [], b""
    for _ in range(reps):
        wall_s, out = run(argv)
        walls.append(wall_s)
    return {"wall_s_median": statistics.median(walls),
            "wall_s": [round(w, 4) for w in walls]}, out


def batch_argv(aviary, scenario, seeds, threads):
    return [aviary, "batch", scenario, "--policy", POLICY, "--seeds", str(seeds),
            "--threads", str(threads), "--format", "json"]


def parse_json_output(out):
    """The batch's JSON: the whole stdout, or failing that its last line."""
    text = out.decode(errors="replace").strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    return None


def dig(obj, *path):
    """obj[path[0]][path[1]]...; None if any step is missing."""
    for key in path:
        try:
            obj = obj[key]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


# ---------------------------------------------------------------- sections

def section_per_run(aviary, plan):
    """(a) seconds per run: aviary batch of N vs 1 seed; the SimPy model."""
    n = plan["seeds"]
    log(f"(a) per run: aviary, {n} seeds and 1 seed")
    t_n, out = time_command(batch_argv(aviary, SCENARIO, n, 1), plan["reps"])
    t_1, _ = time_command(batch_argv(aviary, SCENARIO, 1, 1), plan["reps"])
    naive = t_n["wall_s_median"] / n
    marginal = None
    if n > 1:
        marginal = (t_n["wall_s_median"] - t_1["wall_s_median"]) / (n - 1)
        if marginal <= 0:          # start-up dominates and noise won
            marginal = None
    result = {"seeds": n, "aviary_batch_n": t_n, "aviary_batch_1": t_1,
              "aviary_s_per_run_naive": naive,
              "aviary_s_per_run_marginal": marginal,
              "batch_json": parse_json_output(out),
              "simpy": None, "ratio_naive": None, "ratio_marginal": None}
    if plan["skip_simpy"]:
        return result

    log(f"(a) per run: SimPy model, {SIMPY_RPS} req/s for {SIMPY_DURATION_S} s")
    argv = [sys.executable, str(SIMPY_MODEL), "--rps", str(SIMPY_RPS),
            "--duration", str(SIMPY_DURATION_S), "--seed", str(plan["simpy_seed"]),
            "--reps", str(plan["simpy_reps"])]
    log(f"  {shlex.join(argv)}")
    _, out = run(argv)
    simpy_result = parse_json_output(out)
    if not isinstance(simpy_result, dict) or "wall_s_median" not in simpy_result:
        raise BenchError("the SimPy model printed no JSON result")
    simpy_s = simpy_result["wall_s_median"]
    result["simpy"] = simpy_result
    result["ratio_naive"] = simpy_s / naive if naive > 0 else None
    result["ratio_marginal"] = simpy_s / marginal if marginal else None
    return result


def set_traffic_rps(toml_text, rps):
    """Scenario text with the rps under [traffic] set to `rps`, renamed."""
    lines = toml_text.splitlines(keepends=True)
    section, rps_lines, name_line = "", [], None
    for i, line in enumerate(lines):
        header = re.match(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$", line)
        if header:
            section = header.group(1)
        elif re.match(r"^\s*rps\s*=", line):
            in_traffic = section == "traffic" or section.endswith(".traffic")
            rps_lines.append((i, in_traffic))
        elif name_line is None and re.match(r"^\s*name\s*=", line) \
                and section in ("", "scenario"):
            name_line = i
    traffic = [i for i, in_traffic in rps_lines if in_traffic]
    if len(traffic) != 1 and len(rps_lines) != 1:
        raise BenchError("found no single `rps = ...` line under [traffic] in "
                         f"the text of `aviary scenarios show {SCENARIO}`")
    i = traffic[0] if len(traffic) == 1 else rps_lines[0][0]

    m = re.match(r"^(\s*rps\s*=\s*)([^#\r\n]*?)(\s*#.*)?(\r?\n)?$", lines[i])
    old = m.group(2)
    new = f"{float(rps)!r}" if re.search(r"[.eE]", old) else str(rps)
    lines[i] = m.group(1) + new + (m.group(3) or "") + (m.group(4) or "")

    if name_line is not None:
        m = re.match(r"^(\s*name\s*=\s*)([\"'])(.*?)\2(.*)$", lines[name_line],
                     re.DOTALL)
        if m:
            lines[name_line] = (f"{m.group(1)}{m.group(2)}{m.group(3)}-rps{rps}"
                                f"{m.group(2)}{m.group(4)}")
    return "".join(lines)


def section_traffic(aviary, plan):
    """(b) the same batch at low and high traffic: cost should not follow rps."""
    log(f"(b) traffic: {SCENARIO} at {RPS_LOW} and {RPS_HIGH} req/s")
    _, out = run([aviary, "scenarios", "show", SCENARIO, "--format", "toml"])
    text = out.decode()
    result = {"seeds": plan["seeds"]}
    with tempfile.TemporaryDirectory(prefix="aviary-bench-") as tmp:
        for rps in (RPS_LOW, RPS_HIGH):
            path = Path(tmp) / f"{SCENARIO}-rps{rps}.toml"
            path.write_text(set_traffic_rps(text, rps))
            timing, _ = time_command(
                batch_argv(aviary, str(path), plan["seeds"], 1), plan["reps"])
            result[f"rps_{rps}"] = timing
    low = result[f"rps_{RPS_LOW}"]["wall_s_median"]
    high = result[f"rps_{RPS_HIGH}"]["wall_s_median"]
    result["ratio"] = high / low if low > 0 else None
    result["target"] = RPS_RATIO_TARGET
    result["within_target"] = (result["ratio"] is not None
                               and result["ratio"] <= RPS_RATIO_TARGET)
    return result


def first_difference(a, b):
    """(byte offset, line number) of the first difference of two outputs."""
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return i, a[:i].count(b"\n") + 1


def section_threads(aviary, plan):
    """(c) a larger batch on 1 and 2 threads: speed-up and identical output."""
    n = plan["threads_seeds"]
    log(f"(c) threads: {n} seeds on 1 and 2 threads")
    t1, out1 = time_command(batch_argv(aviary, SCENARIO, n, 1), plan["reps"])
    t2, out2 = time_command(batch_argv(aviary, SCENARIO, n, 2), plan["reps"])
    result = {"seeds": n, "cpus": os.cpu_count(), "threads_1": t1, "threads_2": t2,
              "speedup": (t1["wall_s_median"] / t2["wall_s_median"]
                          if t2["wall_s_median"] > 0 else None),
              "identical": out1 == out2, "output_bytes": len(out1)}
    if out1 != out2:
        offset, line = first_difference(out1, out2)
        result["first_difference"] = {"byte": offset, "line": line}
    return result


def section_agreement(per_run):
    """(d) the SimPy model's figures beside aviary's detection figures."""
    group = dig(per_run, "batch_json", "groups", 0)
    detection = dig(group, "detection_time_s")
    result = {
        "reference_rollback_t": REFERENCE_ROLLBACK_T,
        "fault_onset_s": FAULT_ONSET_S,
        "aviary": {
            "detection_time_s_median": dig(detection, "median"),
            "detection_time_s_p90": dig(detection, "p90"),
            "detection_rate": dig(group, "detection_rate"),
        },
        "simpy_runs": None,
    }
    simpy_result = per_run.get("simpy") if per_run else None
    if simpy_result:
        runs = simpy_result.get("runs") or [simpy_result]
        result["simpy_runs"] = [
            {"seed": r.get("seed"), "requests": r.get("requests"),
             "rollback_t": r.get("rollback_t"),
             "detection_time_s": (r["rollback_t"] - FAULT_ONSET_S
                                  if r.get("rollback_t") is not None else None)}
            for r in runs]
        result["simpy_matches_reference"] = all(
            r["rollback_t"] == REFERENCE_ROLLBACK_T for r in result["simpy_runs"])
    return result


def section_draw_only(plan):
    """(e) engine vs a replay of only its draws, per catalog scenario."""
    manifest = BENCH_DIR / "drawbound" / "Cargo.toml"
    log("(e) draw-only bound: building bench/drawbound")
    run(["cargo", "build", "--release", "--quiet", "--manifest-path", str(manifest)])
    binary = BENCH_DIR / "drawbound" / "target" / "release" / "drawbound"
    argv = [str(binary), "--runs", str(plan["draw_runs"]), "--reps", str(plan["reps"]), "--json"]
    log(f"  {shlex.join(argv)}")
    _, out = run(argv)
    result = parse_json_output(out)
    if not isinstance(result, dict) or "catalog" not in result:
        raise BenchError("bench/drawbound printed no JSON result")
    return result


def baseline_binary(plan):
    """The aviary binary of BASELINE_REV, built once into target/."""
    if plan["baseline"]:
        return plan["baseline"]
    rev = plan["baseline_rev"]
    root = REPO_ROOT / "target" / "bench-baseline" / rev
    binary = root / "target" / "release" / "aviary"
    if binary.is_file():
        return str(binary)
    src = root / "src"
    if not src.is_dir():
        log(f"(f) main job: checking out {rev} into {src}")
        root.mkdir(parents=True, exist_ok=True)
        run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(src), rev])
    log(f"(f) main job: building aviary {rev} (a few minutes)")
    proc = subprocess.run(["cargo", "build", "--release", "-p", "cli", "--quiet",
                           "--target-dir", str(root / "target")], cwd=src)
    if proc.returncode != 0 or not binary.is_file():
        raise BenchError(f"cannot build aviary at {rev}")
    return str(binary)


def section_main_job(aviary, plan):
    """(f) the README's main job: the baseline engine vs this one."""
    old = baseline_binary(plan)
    n = plan["main_seeds"]
    argv = lambda b: [b, "batch", "--seeds", str(n), "--format", "table"]
    log(f"(f) main job: batch --seeds {n} --format table, old and new alternating (x{plan['main_reps']})")
    walls = {"old": [], "new": []}
    for _ in range(plan["main_reps"]):
        for key, binary in (("old", old), ("new", aviary)):
            wall_s, _ = run(argv(binary))
            log(f"  {key}: {wall_s:.1f} s")
            walls[key].append(wall_s)
    t_old, t_new = statistics.median(walls["old"]), statistics.median(walls["new"])
    return {"seeds": n, "baseline": old, "baseline_rev": plan["baseline_rev"],
            "old_wall_s": walls["old"], "new_wall_s": walls["new"],
            "old_over_new": t_old / t_new if t_new > 0 else None}


# ---------------------------------------------------------------- report

def fmt_s(x, digits=4):
    if x is None:
        return "n/a"
    if x < 0.01:
        return f"{x * 1e3:.{max(digits - 1, 1)}f} ms"
    return f"{x:.{digits - 1}f} s"


def fmt(x, spec=".2f"):
    if x is None:
        return "n/a"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return format(x, spec)
    return str(x)


def row(label, value, width=36):
    return f"  {label + ':':<{width}} {value}"


def fmt_unit(x, unit=""):
    """A figure read from aviary's JSON, whatever its type; n/a if absent."""
    if x is None:
        return "n/a"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f"{x:g}{unit}"
    return str(x)


def fmt_x(x, spec=".2f"):
    return "n/a" if x is None else f"{format(x, spec)}x"


def fmt_error(message):
    return "  error: " + str(message).replace("\n", "\n    ")


def rounded(obj, digits=6):
    """The summary with floats rounded to `digits` significant digits."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v, digits) for v in obj]
    return obj


def report_text(summary):
    env, plan, sec = summary["environment"], summary["plan"], summary["sections"]
    out = [
        "aviary vs a per-request SimPy model",
        "=" * 35,
        f"aviary:  {summary['aviary']} ({env.get('aviary_version') or 'version n/a'})",
        f"python:  {env['python']}, simpy {env.get('simpy') or 'n/a'}",
        f"machine: {env['platform']}, {env['cpus']} CPUs",
        f"timings: aviary: whole-process wall time, median of {plan['reps']}",
        "         SimPy: " + ("skipped" if plan["skip_simpy"] else
                              "wall time of the run inside its process, median "
                              f"over {plan['simpy_reps']} seed(s)"),
        "",
    ]

    a = sec.get("per_run")
    out.append(f"(a) seconds per run, {SCENARIO}: {SIMPY_RPS} req/s for "
               f"{SIMPY_DURATION_S} s")
    if isinstance(a, dict):
        n = a["seeds"]
        tn, t1 = a["aviary_batch_n"]["wall_s_median"], a["aviary_batch_1"]["wall_s_median"]
        out += [
            row(f"aviary batch, N = {n} seeds", fmt_s(tn)),
            row("aviary batch, 1 seed", fmt_s(t1)),
            row("aviary per run, t(N)/N", fmt_s(a["aviary_s_per_run_naive"])),
            row("aviary per run, (t(N)-t(1))/(N-1)",
                fmt_s(a["aviary_s_per_run_marginal"])),
        ]
        s = a.get("simpy")
        if s:
            out += [
                row("SimPy per run", fmt_s(s["wall_s_median"]))
                + f"  ({s['requests']:,} requests, "
                f"{s.get('requests_per_wall_s', 0):,} req/s of wall time)",
                row("ratio SimPy/aviary, naive", fmt_x(a["ratio_naive"], ",.0f")),
                row("ratio SimPy/aviary, marginal", fmt_x(a["ratio_marginal"], ",.0f")),
            ]
        else:
            out.append("  SimPy: skipped")
    else:
        out.append(fmt_error(a))
    out.append("")

    b = sec.get("traffic")
    out.append(f"(b) traffic volume: {SCENARIO} batch of {plan['seeds']} seeds, 1 thread")
    if isinstance(b, dict):
        out += [
            row(f"{RPS_LOW} req/s", fmt_s(b[f"rps_{RPS_LOW}"]["wall_s_median"])),
            row(f"{RPS_HIGH} req/s", fmt_s(b[f"rps_{RPS_HIGH}"]["wall_s_median"])),
            row(f"ratio t({RPS_HIGH})/t({RPS_LOW})", fmt(b["ratio"]))
            + f"  (target <= {RPS_RATIO_TARGET}: "
            f"{'met' if b['within_target'] else 'NOT met'})",
        ]
    else:
        out.append(fmt_error(b))
    out.append("")

    c = sec.get("threads")
    out.append(f"(c) threads: {SCENARIO} batch of {plan['threads_seeds']} seeds")
    if isinstance(c, dict):
        out += [
            row("1 thread", fmt_s(c["threads_1"]["wall_s_median"])),
            row("2 threads", fmt_s(c["threads_2"]["wall_s_median"])),
            row("speed-up", fmt_x(c["speedup"]))
            + ("  (only 1 CPU: no speed-up possible)" if c["cpus"] == 1 else ""),
            row("identical", "yes" if c["identical"] else "no")
            + f"  ({c['output_bytes']:,} bytes of output)",
        ]
        if not c["identical"]:
            d = c["first_difference"]
            out.append(f"  first difference at byte {d['byte']}, line {d['line']}")
    else:
        out.append(fmt_error(c))
    out.append("")

    d = sec.get("agreement")
    out.append("(d) agreement with the reference figures "
               f"(fault at {FAULT_ONSET_S:.0f} s; reference rollback at "
               f"{REFERENCE_ROLLBACK_T:.0f} s, detection {REFERENCE_ROLLBACK_T - FAULT_ONSET_S:.0f} s)")
    if isinstance(d, dict):
        if d["simpy_runs"]:
            for r in d["simpy_runs"]:
                verdict = ("no rollback" if r["rollback_t"] is None else
                           f"rollback at {r['rollback_t']:.0f} s "
                           f"(detection {r['detection_time_s']:.0f} s)")
                out.append(row(f"SimPy seed {r['seed']}",
                               f"{fmt(r['requests'], ',')} requests, {verdict}"))
            out.append(row("SimPy matches reference rollback",
                           "yes" if d["simpy_matches_reference"] else "no"))
        else:
            out.append("  SimPy: skipped")
        av = d["aviary"]
        out += [
            row("aviary detection_time_s median",
                fmt_unit(av["detection_time_s_median"], " s")),
            row("aviary detection_time_s p90", fmt_unit(av["detection_time_s_p90"], " s")),
            row("aviary detection_rate", fmt_unit(av["detection_rate"])),
        ]
    else:
        out.append(fmt_error(d))
    out.append("")

    e = sec.get("draw_only")
    out.append(f"(e) engine / draw-only bound, 1 thread, {plan['draw_runs']} runs per scenario "
               "(median of reps; w/ streams: the replay also sets up the run's ChaCha streams)")
    if isinstance(e, dict):
        out.append(f"  {'scenario':<34} {'draws/run':>9} {'engine':>10} {'draws':>10} {'ratio':>6} {'w/ streams':>10}")
        for r in e["scenarios"]:
            out.append(f"  {r['scenario']:<34} {r['draws_per_run']:>9.0f} {r['engine_us']:>8.0f}us "
                       f"{r['draws_us']:>8.0f}us {r['engine_over_draws']:>6.2f} {r['engine_over_draws_and_streams']:>10.2f}")
        c = e["catalog"]
        out.append(f"  {'catalog, one run of each':<34} {'':>9} {c['engine_us']:>8.0f}us "
                   f"{c['draws_us']:>8.0f}us {c['engine_over_draws']:>6.2f} {c['engine_over_draws_and_streams']:>10.2f}")
    elif e is None:
        out.append("  skipped")
    else:
        out.append(fmt_error(e))
    out.append("")

    f = sec.get("main_job")
    out.append(f"(f) main job, batch --seeds {plan['main_seeds']} --format table on the catalog, "
               f"{plan['baseline_rev']} vs this build")
    if isinstance(f, dict):
        out += [
            row(f"old ({f['baseline_rev']})", ", ".join(f"{w:.1f} s" for w in f["old_wall_s"])),
            row("new", ", ".join(f"{w:.1f} s" for w in f["new_wall_s"])),
            row("old / new (medians)", fmt_x(f["old_over_new"])),
        ]
    elif f is None:
        out.append("  skipped")
    else:
        out.append(fmt_error(f))
    return "\n".join(out)


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(
        description="Benchmark aviary against a per-request SimPy model.")
    ap.add_argument("--aviary", type=Path, default=None,
                    help="aviary binary (default: target/release/aviary in the repo)")
    ap.add_argument("--seeds", type=int,
                    help=f"seeds per batch in (a) and (b) (default {DEFAULTS['seeds']})")
    ap.add_argument("--threads-seeds", type=int,
                    help=f"seeds per batch in (c) (default {DEFAULTS['threads_seeds']})")
    ap.add_argument("--reps", type=int,
                    help=f"repetitions per aviary timing (default {DEFAULTS['reps']})")
    ap.add_argument("--simpy-reps", type=int,
                    help=f"SimPy runs, one seed each (default {DEFAULTS['simpy_reps']})")
    ap.add_argument("--simpy-seed", type=int, default=1,
                    help="seed of the first SimPy run (default 1)")
    ap.add_argument("--quick", action="store_true",
                    help=f"smaller batches ({QUICK['seeds']} / {QUICK['threads_seeds']}"
                         " seeds) and one SimPy run")
    ap.add_argument("--skip-simpy", action="store_true",
                    help="time aviary only")
    ap.add_argument("--draw-runs", type=int,
                    help=f"runs per scenario in (e) (default {DEFAULTS['draw_runs']})")
    ap.add_argument("--skip-draw-only", action="store_true", help="skip (e)")
    ap.add_argument("--main-seeds", type=int,
                    help=f"seeds of the main job in (f) (default {DEFAULTS['main_seeds']})")
    ap.add_argument("--main-reps", type=int,
                    help=f"old/new pairs in (f) (default {DEFAULTS['main_reps']})")
    ap.add_argument("--baseline-rev", default=BASELINE_REV,
                    help=f"git revision of the old engine in (f) (default {BASELINE_REV})")
    ap.add_argument("--baseline", default=None,
                    help="an already built old aviary binary for (f) instead of building one")
    ap.add_argument("--skip-main-job", action="store_true", help="skip (f)")
    ap.add_argument("--json", action="store_true",
                    help="print a machine-readable summary instead of the report")
    args = ap.parse_args()
    base = QUICK if args.quick else DEFAULTS
    plan = {k: getattr(args, k) if getattr(args, k) is not None else v
            for k, v in base.items()}
    for k, v in plan.items():
        if v < 1:
            ap.error(f"--{k.replace('_', '-')} must be at least 1")
    plan.update(simpy_seed=args.simpy_seed, skip_simpy=args.skip_simpy,
                quick=args.quick, baseline_rev=args.baseline_rev, baseline=args.baseline,
                skip_draw_only=args.skip_draw_only, skip_main_job=args.skip_main_job)
    return args, plan


def fail(message):
    """Stop with an error (exit status 2)."""
    log(message)
    sys.exit(2)


def find_aviary(arg):
    path = arg if arg is not None else REPO_ROOT / "target" / "release" / "aviary"
    if not path.is_file():
        fail(f"error: aviary binary not found at {path}\n"
             "build it from the repository root with:\n"
             "    cargo build --release -p cli\n"
             "or pass --aviary PATH")
    return str(path.resolve())


def environment(aviary, skip_simpy):
    env = {"python": platform.python_version(), "platform": platform.platform(),
           "cpus": os.cpu_count(), "simpy": None, "aviary_version": None}
    if not skip_simpy:
        import simpy
        env["simpy"] = simpy.__version__
    try:
        _, out = run([aviary, "--version"])
        env["aviary_version"] = out.decode(errors="replace").strip() or None
    except BenchError:
        pass
    return env


def main():
    args, plan = parse_args()
    if not plan["skip_simpy"] and importlib.util.find_spec("simpy") is None:
        fail("error: the simpy package is not installed for "
             f"{sys.executable}\ninstall it in a virtual environment:\n"
             "    python3 -m venv .venv && .venv/bin/pip install simpy\n"
             "then run:\n"
             "    .venv/bin/python bench/bench.py\n"
             "(or pass --skip-simpy to time aviary alone)")
    aviary = find_aviary(args.aviary)

    summary = {"aviary": aviary, "environment": environment(aviary, plan["skip_simpy"]),
               "plan": plan, "sections": {}, "errors": []}
    sections = summary["sections"]
    steps = [("per_run", lambda: section_per_run(aviary, plan)),
             ("traffic", lambda: section_traffic(aviary, plan)),
             ("threads", lambda: section_threads(aviary, plan)),
             ("agreement", lambda: section_agreement(
                 sections["per_run"] if isinstance(sections["per_run"], dict) else {}))]
    if not plan["skip_draw_only"]:
        steps.append(("draw_only", lambda: section_draw_only(plan)))
    if not plan["skip_main_job"]:
        steps.append(("main_job", lambda: section_main_job(aviary, plan)))
    for key, step in steps:
        try:
            sections[key] = step()
        except BenchError as e:
            log(f"error in ({key}): {e}")
            sections[key] = str(e)
            summary["errors"].append({"section": key, "message": str(e)})

    per_run = sections.get("per_run")
    if isinstance(per_run, dict):
        per_run.pop("batch_json", None)     # aviary's own output; not ours to repeat
    if args.json:
        print(json.dumps(rounded(summary), indent=2, default=str))
    else:
        print(report_text(summary))

    if summary["errors"]:
        return 2
    threads = sections.get("threads")
    if isinstance(threads, dict) and not threads["identical"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
