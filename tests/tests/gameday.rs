//! Game days: the oracle's bound, the session's replay, and what the
//! trainee's screen may show.
//!
//! Every test here is an exact comparison on fixed seeds (no statistics):
//! it fails only when a rule is broken.

use sim_core::control::script::Scripted;
use sim_core::control::{By, Command};
use sim_core::gameday::{self, Debrief};
use sim_core::model::{Policy, Scenario};
use sim_core::time::{SimDuration, SimTime};

fn load(name: &str) -> (Scenario, Policy) {
    let s = scenarios::load_scenario(name).expect("built-in scenario");
    let p = scenarios::load_policy(s.policy.as_deref().unwrap_or("default")).expect("its policy");
    (s, p)
}

fn trainee(at_s: u64, command: Command) -> Scripted {
    Scripted {
        at: SimTime::ZERO + SimDuration::from_secs(at_s),
        command,
        metric: None,
        by: Some(By::Trainee),
    }
}

/// A few trainees' ways of playing: do nothing after the start, roll back
/// early, roll back late, push on to 100 % at once, step through.
fn trainees(s: &Scenario) -> Vec<Vec<Scripted>> {
    let start = s.rollout_at.as_secs_f64() as u64;
    let mut plays = vec![
        vec![trainee(start, Command::Start)],
        vec![trainee(start, Command::Start), trainee(start + 120, Command::Rollback)],
        vec![trainee(start, Command::Start), trainee(start + 1500, Command::Rollback)],
        vec![trainee(start, Command::Start), trainee(start + 60, Command::Promote)],
    ];
    let mut stepping = vec![trainee(start, Command::Start)];
    for k in 1..6 {
        stepping.push(trainee(start + 300 * k, Command::NextStep));
    }
    plays.push(stepping);
    plays
}

/// The oracle harms no more requests, users or records than the policy or
/// any trainee, and ships a healthy release no later, on every catalog
/// scenario for three seeds.
#[test]
fn the_oracle_is_never_worse_than_the_policy_or_a_trainee() {
    for b in scenarios::catalog::SCENARIOS {
        let (s, p) = load(b.name);
        for seed in 1..=3 {
            let oracle = {
                let mut c = gameday::OracleController::new(&s);
                sim_core::engine::run_with(&s, &p, seed, 0, &mut c, &mut sim_core::engine::Discard)
            };
            let policy = sim_core::engine::run(&s, &p, seed, 0, &mut sim_core::engine::Discard);
            let mut others = vec![("policy".to_owned(), policy)];
            for (i, play) in trainees(&s).into_iter().enumerate() {
                let d: Debrief = gameday::debrief(&s, &p, &p, seed, false, &play);
                others.push((format!("trainee {i}"), d.trainee));
            }
            let records = |r: &sim_core::score::RunResult| r.migration.as_ref().map_or(0, |m| m.records_lost);
            for (who, r) in &others {
                let ctx = format!("{} seed {seed}: oracle vs {who}", s.name);
                assert!(
                    oracle.blast_failed_requests() <= r.blast_failed_requests(),
                    "{ctx}: failed requests"
                );
                assert!(
                    oracle.blast_slow_requests() <= r.blast_slow_requests(),
                    "{ctx}: slow requests"
                );
                assert!(oracle.users_affected <= r.users_affected, "{ctx}: users");
                assert!(oracle.lost_conversions <= r.lost_conversions, "{ctx}: conversions");
                assert!(records(&oracle) <= records(r), "{ctx}: records lost");
                if s.is_healthy() && s.migration.is_none() {
                    assert!(!oracle.false_alarm(), "{ctx}: the oracle stopped a healthy release");
                    let ship =
                        |r: &sim_core::score::RunResult| r.promoted_at.map_or(f64::INFINITY, |t| t.as_secs_f64());
                    assert!(ship(&oracle) <= ship(r), "{ctx}: time to ship");
                }
            }
        }
    }
}

use cli::gameday::{App, Header, Key, Session, debrief_of, draw, exercise};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn header(scenario: &str, mystery: bool) -> Header {
    Header {
        scenario: scenario.to_owned(),
        seed: 1,
        policy: "default".to_owned(),
        assist: false,
        jitter: false,
        mystery,
    }
}

fn app(h: Header, trainer: bool) -> App {
    let mut d = Vec::new();
    let ex = exercise(&h, &mut d).expect("the exercise loads");
    App::new(ex, Session::new(h), 60.0, trainer)
}

/// The screen as text, one line per row (ratatui's `TestBackend`).
fn screen(app: &App, (w, h): (u16, u16)) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    t.draw(|f| draw(f, app)).expect("draws");
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_owned()).collect();
            line.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn at(app: &mut App, minutes: u64) {
    let dt = SimTime::ZERO + SimDuration::from_secs(minutes * 60) - app.now;
    app.advance(dt);
}

/// The dashboard at a fixed seed and time, as a trainee and as the game
/// master see it.
#[test]
fn the_dashboard_at_a_fixed_seed_and_time() {
    let mut a = app(header("checkout-error-spike", false), false);
    at(&mut a, 12);
    insta::assert_snapshot!("dashboard_trainee_12m", screen(&a, (120, 48)));
    let mut g = app(header("checkout-error-spike", false), true);
    at(&mut g, 12);
    insta::assert_snapshot!("dashboard_trainer_12m", screen(&g, (120, 52)));
}

/// Under --mystery the trainee's screen names neither the scenario, nor a
/// fault's kind, nor its onset, at any time of any catalog scenario (the
/// game master's screen does).
#[test]
fn a_mystery_screen_never_names_the_fault() {
    let kinds = sim_core::model::FaultEffect::KINDS;
    for b in scenarios::catalog::SCENARIOS {
        let mut a = app(header(b.name, true), false);
        for minutes in [5, 11, 14, 25, 45, 70] {
            at(&mut a, minutes);
            let text = screen(&a, (140, 50));
            let lower = text.to_lowercase();
            assert!(
                !text.contains(b.name),
                "{}: the name shows at {minutes}m:\n{text}",
                b.name
            );
            for word in kinds.iter().copied().chain(["fault", "onset", "harm", "ground truth"]) {
                assert!(
                    !lower.contains(word),
                    "{}: {word:?} shows at {minutes}m:\n{text}",
                    b.name
                );
            }
        }
        let mut g = app(header(b.name, true), true);
        at(&mut g, 14);
        assert!(
            screen(&g, (140, 56)).contains(b.name),
            "{}: the game master sees the name",
            b.name
        );
    }
}

/// The same actions entered as keys and as a script give the same
/// session, the same debrief and, replayed from the log, the same figures.
#[test]
fn keys_a_script_and_a_replay_agree() {
    let sc = "checkout-error-spike";
    // Keys: at 11m a note, at 12m a hold and a resume from the command
    // line, at 13m a rollback confirmed with y.
    let mut a = app(header(sc, false), false);
    at(&mut a, 11);
    for k in "nlooks odd".chars().map(Key::Char).chain([Key::Enter]) {
        a.key(k);
    }
    at(&mut a, 12);
    a.key(Key::Char('h'));
    for k in ":resume".chars().map(Key::Char).chain([Key::Enter]) {
        a.key(k);
    }
    at(&mut a, 13);
    a.key(Key::Char('r'));
    a.key(Key::Char('x')); // not y: cancelled
    a.key(Key::Char('r'));
    a.key(Key::Char('y'));
    let keyed = a.session.clone();
    // The same as a script, played headless.
    let script = "[[command]]\nat = \"12m\"\ncommand = \"hold\"\n[[command]]\nat = \"12m\"\ncommand = \"resume\"\n[[command]]\nat = \"13m\"\ncommand = \"rollback\"\n";
    let dir = std::env::temp_dir().join(format!("aviary-gameday-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script_path = dir.join("play.toml");
    std::fs::write(&script_path, script).unwrap();
    let session_path = dir.join("session.jsonl");
    let run = |args: &[&str]| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = cli::Io {
            out: &mut out,
            err: &mut err,
            stdout_is_terminal: false,
            stderr_is_terminal: false,
        };
        let code = cli::main_with(std::iter::once("aviary").chain(args.iter().copied()), &mut io);
        assert_eq!(code, 0, "{args:?}: {}", String::from_utf8_lossy(&err));
        String::from_utf8(out).unwrap()
    };
    let p = |x: &std::path::Path| x.to_str().unwrap().to_owned();
    let scripted = run(&[
        "gameday",
        sc,
        "--script",
        &p(&script_path),
        "--session",
        &p(&session_path),
        "--format",
        "json",
    ]);
    let (view, _, _) = debrief_of(&keyed, &a.ex, "you".to_owned());
    let keyed_json: serde_json::Value = view.json();
    let scripted_json: serde_json::Value = serde_json::from_str(&scripted).unwrap();
    assert_eq!(keyed_json, scripted_json, "keys and script give the same debrief");
    // The log replays to the same figures.
    let replayed: serde_json::Value =
        serde_json::from_str(&run(&["replay", &p(&session_path), "--format", "json"])).unwrap();
    assert_eq!(replayed, scripted_json, "the replay reproduces the debrief");
    // The log is a script for `aviary run`: the same run as the trainee's.
    let ran: serde_json::Value =
        serde_json::from_str(&run(&["run", sc, "--script", &p(&session_path), "--format", "json"])).unwrap();
    assert_eq!(ran["blast_radius"], scripted_json["trainee"]["blast_radius"]);
    assert_eq!(ran["detection_time_s"], scripted_json["trainee"]["detection_time_s"]);
    assert_eq!(scripted_json["trainee"]["first_action"], "hold");
    // The keyed session's note is in the log it writes.
    assert_eq!(keyed.notes.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// Under --assist the log holds the policy's commands too: replayed (the
/// policy beside the trainee's commands) and run as a plain script (every
/// logged command), it gives the same run as the exercise.
#[test]
fn an_assisted_session_replays_both_ways() {
    let dir = std::env::temp_dir().join(format!("aviary-gameday-assist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("play.toml");
    // The trainee holds the healthy release's second step for 5 minutes.
    std::fs::write(
        &script,
        "[[command]]\nat = \"21m\"\ncommand = \"hold\"\n[[command]]\nat = \"26m\"\ncommand = \"resume\"\n",
    )
    .unwrap();
    let log = dir.join("session.jsonl");
    let run = |args: &[&str]| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = cli::Io {
            out: &mut out,
            err: &mut err,
            stdout_is_terminal: false,
            stderr_is_terminal: false,
        };
        let code = cli::main_with(std::iter::once("aviary").chain(args.iter().copied()), &mut io);
        assert_eq!(code, 0, "{args:?}: {}", String::from_utf8_lossy(&err));
        serde_json::from_str::<serde_json::Value>(&String::from_utf8(out).unwrap()).unwrap()
    };
    let p = |x: &std::path::Path| x.to_str().unwrap().to_owned();
    let played = run(&[
        "gameday",
        "healthy-release",
        "--assist",
        "--script",
        &p(&script),
        "--session",
        &p(&log),
        "--format",
        "json",
    ]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("\"by\":\"policy\"") && text.contains("\"by\":\"trainee\""),
        "{text}"
    );
    assert_eq!(run(&["replay", &p(&log), "--format", "json"]), played);
    let ran = run(&["run", "healthy-release", "--script", &p(&log), "--format", "json"]);
    assert_eq!(ran["rollout_duration_s"], played["trainee"]["rollout_duration_s"]);
    assert_eq!(ran["blast_radius"], played["trainee"]["blast_radius"]);
    assert_eq!(ran["outcome"], played["trainee"]["outcome"]);
    std::fs::remove_dir_all(&dir).ok();
}
