//! The draw-only bound: how close a run of the engine is to the cost of
//! the random draws it must make.
//!
//! For each built-in scenario (under its own policy, as `aviary batch`
//! runs it), on one thread:
//! 1. the engine's runs `0..N`, timed;
//! 2. the same runs again with `sim_core::draw::log` recording every draw
//!    (not timed);
//! 3. a replay of exactly those draws (the same distributions with the
//!    same parameters, through the same exact samplers, from the same
//!    generator type, ChaCha8) with no simulation state, timed; and once
//!    more with the ChaCha stream set-ups the run made.
//!
//! Steps 1 and 3 alternate `--reps` times; the medians are printed. The
//! ratio engine ÷ draw-only is what bookkeeping costs on top of the
//! draws: 1.0 would be a simulator that only draws.
//!
//! Usage: drawbound [--runs N] [--reps K] [--json] [SCENARIO...]

use std::time::Instant;

use rand::SeedableRng;
use sim_core::draw::{Draw, log, replay};
use sim_core::engine::{Discard, Engine, run_on};

struct Args {
    runs: u64,
    reps: usize,
    json: bool,
    scenarios: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        runs: 40,
        reps: 3,
        json: false,
        scenarios: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a number"))?;
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{name}: not a positive whole number: {v:?}"))
        };
        match arg.as_str() {
            "--runs" => a.runs = number("--runs")?,
            "--reps" => a.reps = number("--reps")? as usize,
            "--json" => a.json = true,
            "-h" | "--help" => {
                return Err("usage: drawbound [--runs N] [--reps K] [--json] [SCENARIO...]".to_owned());
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => a.scenarios.push(s.to_owned()),
        }
    }
    if a.scenarios.is_empty() {
        a.scenarios = scenarios::catalog::SCENARIOS.iter().map(|b| b.name.to_owned()).collect();
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One scenario's figures, per run.
struct Row {
    scenario: String,
    draws: f64,
    binomials: f64,
    streams: f64,
    engine_us: f64,
    draws_us: f64,
    draws_and_streams_us: f64,
}

fn measure(name: &str, a: &Args) -> Result<Row, String> {
    let problems = |d: Vec<scenarios::Diagnostic>| {
        d.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
    };
    let sc = scenarios::load_scenario(name).map_err(problems)?;
    let policy = scenarios::load_policy(sc.policy.as_deref().unwrap_or("default")).map_err(problems)?;
    let seed = 1;
    let run = |r: u64| run_on(Engine::Aggregated, &sc, &policy, seed, r, &mut Discard);
    for r in 0..3 {
        std::hint::black_box(run(r));
    }
    let logs: Vec<Vec<Draw>> = (0..a.runs)
        .map(|r| {
            log::start();
            std::hint::black_box(run(r));
            log::take()
        })
        .collect();
    let replay_all = |streams: bool| -> f64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut sum = 0.0;
        let t = Instant::now();
        for draws in &logs {
            for &d in draws {
                if streams || d != Draw::Stream {
                    sum += replay(&mut rng, d);
                }
            }
        }
        std::hint::black_box(sum);
        t.elapsed().as_secs_f64()
    };
    let (mut engine, mut draws, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.reps {
        let t = Instant::now();
        for r in 0..a.runs {
            std::hint::black_box(run(r));
        }
        engine.push(t.elapsed().as_secs_f64());
        draws.push(replay_all(false));
        both.push(replay_all(true));
    }
    let per_run = |total: usize| total as f64 / a.runs as f64;
    let count = |f: &dyn Fn(&Draw) -> bool| per_run(logs.iter().flatten().filter(|d| f(d)).count());
    let us = |t: f64| t / a.runs as f64 * 1e6;
    Ok(Row {
        scenario: name.to_owned(),
        draws: count(&|d| *d != Draw::Stream),
        binomials: count(&|d| matches!(d, Draw::Binomial { .. })),
        streams: count(&|d| *d == Draw::Stream),
        engine_us: us(median(engine)),
        draws_us: us(median(draws)),
        draws_and_streams_us: us(median(both)),
    })
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("drawbound: {e}");
            std::process::exit(2);
        }
    };
    let mut rows = Vec::new();
    for name in &a.scenarios {
        eprintln!("drawbound: {name} ({} runs x {} reps)", a.runs, a.reps);
        match measure(name, &a) {
            Ok(r) => rows.push(r),
            Err(e) => {
                eprintln!("drawbound: {name}: {e}");
                std::process::exit(2);
            }
        }
    }
    let total = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>();
    let (engine, draws, both) = (total(&|r| r.engine_us), total(&|r| r.draws_us), total(&|r| r.draws_and_streams_us));
    if a.json {
        let per: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "scenario": r.scenario, "draws_per_run": r.draws, "binomials_per_run": r.binomials,
                    "streams_per_run": r.streams, "engine_us": r.engine_us, "draws_us": r.draws_us,
                    "draws_and_streams_us": r.draws_and_streams_us,
                    "engine_over_draws": r.engine_us / r.draws_us,
                    "engine_over_draws_and_streams": r.engine_us / r.draws_and_streams_us,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "runs": a.runs, "reps": a.reps, "scenarios": per,
            "catalog": {"engine_us": engine, "draws_us": draws, "draws_and_streams_us": both,
                        "engine_over_draws": engine / draws, "engine_over_draws_and_streams": engine / both},
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return;
    }
    println!(
        "{:<32} {:>8} {:>8} {:>8} {:>10} {:>10} {:>8} {:>12}",
        "scenario", "draws", "binom", "streams", "engine µs", "draws µs", "ratio", "w/ streams"
    );
    for r in &rows {
        println!(
            "{:<32} {:>8.0} {:>8.0} {:>8.0} {:>10.1} {:>10.1} {:>8.2} {:>12.2}",
            r.scenario,
            r.draws,
            r.binomials,
            r.streams,
            r.engine_us,
            r.draws_us,
            r.engine_us / r.draws_us,
            r.engine_us / r.draws_and_streams_us
        );
    }
    println!(
        "{:<32} {:>8} {:>8} {:>8} {:>10.1} {:>10.1} {:>8.2} {:>12.2}",
        "catalog (sum of one run each)",
        "",
        "",
        "",
        engine,
        draws,
        engine / draws,
        engine / both
    );
}
