#!/usr/bin/env python3
"""A per-request SimPy model of one canary rollout -- the baseline aviary is
benchmarked against.

This is how someone would model the scenario directly in SimPy: every request
is simulated.  aviary's built-in `simpy-peer` scenario describes the same
rollout; bench.py times both.

The scenario
------------
* Traffic: Poisson arrivals at `--rps` requests/s for `--duration` seconds.
* Rollout: the canary weight steps 5 % -> 25 % -> 50 % -> 100 %, one step every
  600 s.  Each request goes to the canary with probability `weight`.
* Versions: a request fails with probability 0.001 and takes a lognormal
  latency (median 50 ms, sigma 0.5).
* Fault: from `--fault-onset` (1500 s, during the 50 % step) the canary fails
  with probability 0.01 and its latency median is 1.3x higher.
* Monitoring: latencies go into a 64-bin log-spaced histogram per cohort
  (1 ms .. 10 s); request and error counters per cohort per check window.
* Policy: every 60 s the controller compares the canary's error rate with the
  baseline's over the window just ended, and rolls back (weight 0 for the rest
  of the run) if canary > baseline + 0.005 with at least 100 canary requests in
  the window.  Otherwise it applies the step due at that time.

  With the defaults the fault starts at 1500 s and is caught at the next
  check: rollback at 1560 s.

SimPy style
-----------
The cheapest idiomatic SimPy model: one arrival process that yields one
Timeout per request and handles the request inline (route, fail, latency,
record), one controller process waking every 60 s, and one process that
switches the fault on.  A textbook model with a process per request would be
about three times slower.

Usage
-----
    python simpy_model.py --rps 1000 --duration 3600 --seed 1 --reps 3

Run i (0-based) uses seed S + i.  Prints one JSON line: `requests` and
`rollback_t` of the first run, `wall_s_median` over all runs, and `runs`, the
per-run figures.  Wall time covers building and running the model, not the
interpreter start-up or the SimPy import.
"""
import argparse
import json
import math
import random
import sys
import time

try:
    import simpy
except ImportError:
    sys.exit("simpy is not installed: python3 -m venv .venv && "
             ".venv/bin/pip install simpy, then run with .venv/bin/python")

# Rollout and policy.
WEIGHT_STEPS = (0.05, 0.25, 0.50, 1.00)
STEP_INTERVAL_S = 600.0
CHECK_INTERVAL_S = 60.0
ERROR_MARGIN = 0.005          # roll back if canary_err > base_err + margin
MIN_CANARY_REQUESTS = 100     # ... with at least this many canary requests

# Versions and fault.
ERROR_RATE_OK = 0.001
ERROR_RATE_FAULT = 0.010
LATENCY_S_MEDIAN = 0.050
LATENCY_SIGMA = 0.5
FAULT_LATENCY_FACTOR = 1.3
FAULT_ONSET_S = 1500.0

# Latency histogram: HIST_BINS log-spaced bins from 1 ms to 10 s; values
# outside the range land in the first or last bin.
HIST_BINS = 64
HIST_LOG_LO = math.log(0.001)
HIST_LOG_HI = math.log(10.0)
HIST_BINS_PER_LOG = HIST_BINS / (HIST_LOG_HI - HIST_LOG_LO)

BASELINE, CANARY = 0, 1


class Cohort:
    """Monitoring data of one cohort (baseline or canary)."""

    __slots__ = ("requests", "errors", "window_requests", "window_errors",
                 "latency_hist")

    def __init__(self):
        self.requests = 0           # whole run
        self.errors = 0
        self.window_requests = 0    # since the last check
        self.window_errors = 0
        self.latency_hist = [0] * HIST_BINS

    def window_error_rate(self):
        if self.window_requests == 0:
            return 0.0
        return self.window_errors / self.window_requests

    def close_window(self):
        self.requests += self.window_requests
        self.errors += self.window_errors
        self.window_requests = 0
        self.window_errors = 0


class Rollout:
    """The state the policy controls and the fault changes."""

    def __init__(self):
        self.weight = WEIGHT_STEPS[0]
        self.fault_active = False
        self.rollback_t = None
        self.cohorts = (Cohort(), Cohort())


def step_weight(now):
    """The canary weight the schedule asks for at time `now`."""
    step = int(now // STEP_INTERVAL_S)
    return WEIGHT_STEPS[min(step, len(WEIGHT_STEPS) - 1)]


def arrivals(env, rollout, rng, rps):
    """Poisson arrivals; each request is routed, served and recorded inline."""
    baseline, canary = rollout.cohorts
    mu_ok = math.log(LATENCY_S_MEDIAN)
    mu_fault = math.log(LATENCY_S_MEDIAN * FAULT_LATENCY_FACTOR)
    # Local names: this loop runs once per request.
    uniform, expo, lognorm, log = (rng.random, rng.expovariate,
                                   rng.lognormvariate, math.log)
    timeout = env.timeout
    while True:
        yield timeout(expo(rps))
        if uniform() < rollout.weight:
            cohort = canary
            faulty = rollout.fault_active
        else:
            cohort = baseline
            faulty = False
        error_rate = ERROR_RATE_FAULT if faulty else ERROR_RATE_OK
        latency_s = lognorm(mu_fault if faulty else mu_ok, LATENCY_SIGMA)
        cohort.window_requests += 1
        if uniform() < error_rate:
            cohort.window_errors += 1
        b = int((log(latency_s) - HIST_LOG_LO) * HIST_BINS_PER_LOG)
        cohort.latency_hist[min(max(b, 0), HIST_BINS - 1)] += 1


def controller(env, rollout):
    """Every check interval: judge the window just ended, then step or roll back."""
    baseline, canary = rollout.cohorts
    while True:
        yield env.timeout(CHECK_INTERVAL_S)
        if rollout.rollback_t is None:
            enough = canary.window_requests >= MIN_CANARY_REQUESTS
            worse = (canary.window_error_rate()
                     > baseline.window_error_rate() + ERROR_MARGIN)
            if enough and worse:
                rollout.rollback_t = env.now
                rollout.weight = 0.0
            else:
                rollout.weight = step_weight(env.now)
        baseline.close_window()
        canary.close_window()


def fault(env, rollout, onset_s):
    """Switch the canary's regression on at `onset_s`."""
    yield env.timeout(onset_s)
    rollout.fault_active = True


def simulate(rps, duration_s, seed, fault_onset_s=FAULT_ONSET_S):
    """Run one rollout; return its Rollout state."""
    env = simpy.Environment()
    rng = random.Random(seed)
    rollout = Rollout()
    env.process(arrivals(env, rollout, rng, rps))
    env.process(controller(env, rollout))
    env.process(fault(env, rollout, fault_onset_s))
    env.run(until=duration_s)
    for cohort in rollout.cohorts:     # count the last, partial window too
        cohort.close_window()
    return rollout


def main():
    ap = argparse.ArgumentParser(
        description="Per-request SimPy model of one canary rollout.")
    ap.add_argument("--rps", type=float, default=1000.0,
                    help="arrival rate, requests/s (default 1000)")
    ap.add_argument("--duration", type=float, default=3600.0,
                    help="simulated seconds (default 3600)")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the first run; run i uses seed + i (default 1)")
    ap.add_argument("--reps", type=int, default=1,
                    help="number of runs (default 1)")
    ap.add_argument("--fault-onset", type=float, default=FAULT_ONSET_S,
                    help="fault onset, s (default 1500)")
    args = ap.parse_args()
    if args.reps < 1:
        ap.error("--reps must be at least 1")

    runs = []
    for i in range(args.reps):
        seed = args.seed + i
        t0 = time.perf_counter()
        rollout = simulate(args.rps, args.duration, seed, args.fault_onset)
        wall_s = time.perf_counter() - t0
        baseline, canary = rollout.cohorts
        runs.append({
            "seed": seed,
            "requests": baseline.requests + canary.requests,
            "canary_requests": canary.requests,
            "canary_errors": canary.errors,
            "baseline_errors": baseline.errors,
            "rollback_t": rollout.rollback_t,
            "wall_s": round(wall_s, 4),
        })

    walls = sorted(r["wall_s"] for r in runs)
    wall_s_median = walls[len(walls) // 2] if len(walls) % 2 else \
        (walls[len(walls) // 2 - 1] + walls[len(walls) // 2]) / 2
    first = runs[0]
    print(json.dumps({
        "model": "simpy-inline",
        "simpy": simpy.__version__,
        "rps": args.rps,
        "duration_s": args.duration,
        "fault_onset_s": args.fault_onset,
        "reps": args.reps,
        "requests": first["requests"],
        "rollback_t": first["rollback_t"],
        "wall_s_median": round(wall_s_median, 4),
        "requests_per_wall_s": round(first["requests"] / wall_s_median),
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
