//! `aviary gameday`, `aviary replay` and `aviary debrief`: the game-day
//! trainer's command line, its terminal dashboard and its session log.
//!
//! The exercise itself lives in `sim_core::gameday` (a pure core: the screen
//! at an instant is a re-run of the session so far). Here: the keys and the
//! command line ([`App::key`]), the screen ([`draw`], a pure function of the
//! app and its frame, snapshotted in tests with ratatui's `TestBackend`),
//! the live loop on a terminal, the headless run of a script, and the
//! session log (JSON lines; a valid `aviary run --script`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::Frame as Screen;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table, Wrap};
use scenarios::Diagnostic;
use serde_json::{Value, json};
use sim_core::control::script::Scripted;
use sim_core::control::{By, Command, Stage};
use sim_core::engine::{Collect, Event};
use sim_core::gameday::{self, Frame, INJECTABLE, Injection, Readings, clock};
use sim_core::model::{Metric, Policy, Scenario};
use sim_core::time::{SimDuration, SimTime};

use crate::{Failure, Io};

#[derive(clap::Args, Debug)]
pub(crate) struct GamedayArgs {
    /// A built-in scenario name or a scenario file (.toml); omit it with --mystery.
    scenario: Option<String>,
    /// The seed: the same seed gives every team the same incident.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated seconds per real second (`+` and `-` change it while playing).
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
    /// The policy whose mechanics carry out the trainee's commands (steps,
    /// rollback delay, hotfix), which decides under --assist and which the
    /// debrief compares with [default: the scenario's own, else default].
    #[arg(long)]
    policy: Option<String>,
    /// Write the session log here (JSON lines), rewritten after every action.
    #[arg(long, value_name = "FILE")]
    session: Option<PathBuf>,
    /// The automated policy runs and the trainee may override it.
    #[arg(long)]
    assist: bool,
    /// Pick the scenario from the catalog (or --from) by seed without naming it on screen.
    #[arg(long)]
    mystery: bool,
    /// The scenarios --mystery picks from, comma-separated [default: the whole catalog].
    #[arg(long, value_delimiter = ',', value_name = "A,B,C", requires = "mystery")]
    from: Vec<String>,
    /// Vary each fault's size (×0.75 to ×1.25) and onset (up to 10 minutes later) by seed.
    #[arg(long)]
    jitter: bool,
    /// The game master's view: ground truth, the blast radius as it grows, and `i` to inject a fault.
    #[arg(long)]
    trainer: bool,
    /// Play headless: the trainee's commands from this script (TOML or JSON lines), no terminal.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// The debrief's format at the end.
    #[arg(long, value_enum, default_value_t = DebriefFormat::Text)]
    format: DebriefFormat,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ReplayArgs {
    /// A session log written by `aviary gameday --session`.
    file: PathBuf,
    /// The debrief's format.
    #[arg(long, value_enum, default_value_t = DebriefFormat::Text)]
    format: DebriefFormat,
    /// Show the session again on the dashboard (on a terminal).
    #[arg(long)]
    dashboard: bool,
    /// Simulated seconds per real second on the dashboard.
    #[arg(long, default_value_t = 60.0)]
    speed: f64,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DebriefArgs {
    /// Session logs of teams who played the same scenario and seed (one: its debrief; several: a ranking).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DebriefFormat::Text)]
    format: DebriefFormat,
    /// Draw the first session's timeline beside the policy's and the oracle's (PNG, or SVG).
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum DebriefFormat {
    Text,
    Markdown,
    Json,
}

/// The first line of a session log.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The scenario's name or file, as given (or as the mystery picked it).
    pub scenario: String,
    pub seed: u64,
    pub policy: String,
    pub assist: bool,
    pub jitter: bool,
    pub mystery: bool,
}

/// A session: its header and everything the people in it did.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub header: Header,
    /// The trainee's, the game master's and the pipeline's commands (the
    /// policy's under assist come back from the run).
    pub commands: Vec<Scripted>,
    pub injections: Vec<Injection>,
    pub notes: Vec<(SimTime, By, String)>,
    pub acks: Vec<(SimTime, Metric)>,
    pub ended_at: Option<SimTime>,
}

/// The exercise's loaded inputs.
pub struct Exercise {
    /// The scenario as played, jittered, without the injected faults.
    pub base: Scenario,
    pub policy: Policy,
}

impl Session {
    pub fn new(header: Header) -> Session {
        Session {
            header,
            commands: Vec::new(),
            injections: Vec::new(),
            notes: Vec::new(),
            acks: Vec::new(),
            ended_at: None,
        }
    }

    /// The scenario with the injected faults.
    pub fn scenario(&self, ex: &Exercise) -> Scenario {
        gameday::with_injections(&ex.base, &self.injections)
    }

    /// The commands the trainee's decider replays: under assist the
    /// policy's own are left out (the policy takes them again).
    pub fn replayed(&self) -> Vec<Scripted> {
        self.commands
            .iter()
            .filter(|c| !(self.header.assist && c.by == Some(By::Policy)))
            .copied()
            .collect()
    }

    /// The session log: the header, then every command (the policy's too),
    /// injection, note and acknowledgement in time order, up to `upto`.
    pub fn jsonl(&self, ex: &Exercise, upto: SimTime) -> String {
        let h = &self.header;
        let mut out = json!({
            "type": "session",
            "aviary": env!("CARGO_PKG_VERSION"),
            "scenario": h.scenario,
            "seed": h.seed,
            "policy": h.policy,
            "assist": h.assist,
            "jitter": h.jitter,
            "mystery": h.mystery,
        })
        .to_string();
        out.push('\n');
        let sc = self.scenario(ex);
        let mut events = Collect::default();
        let mut decider = gameday::SessionController::new(&sc, &ex.policy, h.seed, h.assist, self.replayed());
        sim_core::engine::run_with(&sc, &ex.policy, h.seed, 0, &mut decider, &mut events);
        let mut lines: Vec<(SimTime, u8, Value)> = Vec::new();
        for (at, e) in &events.0 {
            if let Event::Command(c) = e
                && *at <= upto
            {
                lines.push((*at, 0, reports::run::command_json(at.as_secs_f64(), c)));
            }
        }
        for i in self.injections.iter().filter(|i| i.at <= upto) {
            lines.push((
                i.at,
                1,
                json!({"t_s": i.at.as_secs_f64(), "type": "command", "command": "inject_fault", "fault": i.fault, "onset_s": i.onset.as_secs_f64(), "by": "trainer"}),
            ));
        }
        for (at, by, text) in self.notes.iter().filter(|n| n.0 <= upto) {
            lines.push((
                *at,
                2,
                json!({"t_s": at.as_secs_f64(), "type": "note", "by": by.name(), "text": text}),
            ));
        }
        for (at, metric) in self.acks.iter().filter(|a| a.0 <= upto) {
            lines.push((
                *at,
                3,
                json!({"t_s": at.as_secs_f64(), "type": "ack", "by": "trainee", "alert": metric.name()}),
            ));
        }
        lines.sort_by_key(|(at, kind, _)| (*at, *kind));
        for (_, _, v) in lines {
            out.push_str(&v.to_string());
            out.push('\n');
        }
        if let Some(at) = self.ended_at {
            out.push_str(&json!({"type": "end", "t_s": at.as_secs_f64()}).to_string());
            out.push('\n');
        }
        out
    }

    /// Reads a session log; `file` names it in diagnostics.
    ///
    /// # Errors
    /// Every problem, with its line and key.
    pub fn parse(file: &str, text: &str) -> Result<Session, Vec<Diagnostic>> {
        let err = |line: usize, key: &str, message: String| Diagnostic {
            file: file.to_owned(),
            line,
            key: key.to_owned(),
            message,
            ..Default::default()
        };
        let first = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty());
        let Some((n, line)) = first else {
            return Err(vec![err(0, "", "empty: not a game-day session log".to_owned())]);
        };
        let header: Value =
            serde_json::from_str(line).map_err(|e| vec![err(n + 1, "", format!("not a JSON object: {e}"))])?;
        if header.get("type").and_then(Value::as_str) != Some("session") {
            return Err(vec![err(
                n + 1,
                "type",
                "the first line is not a session header ({\"type\": \"session\", ...}): not a game-day session log"
                    .to_owned(),
            )]);
        }
        let mut diagnostics = Vec::new();
        let known = [
            "type", "aviary", "scenario", "seed", "policy", "assist", "jitter", "mystery",
        ];
        if let Some(o) = header.as_object() {
            for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
                diagnostics.push(err(n + 1, k, format!("unknown key (known: {})", known.join(", "))));
            }
        }
        let text_of = |key: &str, d: &mut Vec<Diagnostic>| match header.get(key).and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => {
                d.push(err(n + 1, key, "missing: a string".to_owned()));
                String::new()
            }
        };
        let flag = |key: &str, d: &mut Vec<Diagnostic>| match header.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                d.push(err(n + 1, key, "expected true or false".to_owned()));
                false
            }
        };
        let scenario = text_of("scenario", &mut diagnostics);
        let policy = text_of("policy", &mut diagnostics);
        let seed = match header.get("seed").and_then(Value::as_u64) {
            Some(s) => s,
            None => {
                diagnostics.push(err(n + 1, "seed", "missing: a whole number".to_owned()));
                0
            }
        };
        let header = Header {
            scenario,
            seed,
            policy,
            assist: flag("assist", &mut diagnostics),
            jitter: flag("jitter", &mut diagnostics),
            mystery: flag("mystery", &mut diagnostics),
        };
        let script = match scenarios::script::parse(file, text) {
            Ok(s) => Some(s),
            Err(d) => {
                diagnostics.extend(d);
                None
            }
        };
        let mut session = Session::new(header);
        for (i, line) in text.lines().enumerate().skip(n + 1) {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue; // the script reader reports it
            };
            let at = || {
                v.get("t_s")
                    .and_then(Value::as_f64)
                    .filter(|t| *t >= 0.0 && *t <= sim_core::limits::HORIZON_MAX.as_secs_f64())
                    .map(|t| SimTime::ZERO + SimDuration::from_secs_f64(t))
            };
            match v.get("type").and_then(Value::as_str) {
                Some("note") => match (at(), v.get("text").and_then(Value::as_str)) {
                    (Some(t), Some(text)) => {
                        let by = v
                            .get("by")
                            .and_then(Value::as_str)
                            .and_then(By::from_name)
                            .unwrap_or(By::Trainee);
                        session.notes.push((t, by, text.to_owned()));
                    }
                    _ => diagnostics.push(err(i + 1, "text", "a note needs t_s (seconds) and text".to_owned())),
                },
                Some("ack") => match (at(), v.get("alert").and_then(Value::as_str).and_then(Metric::from_name)) {
                    (Some(t), Some(m)) => session.acks.push((t, m)),
                    _ => diagnostics.push(err(
                        i + 1,
                        "alert",
                        "an ack needs t_s (seconds) and an alert's metric".to_owned(),
                    )),
                },
                Some("end") => match at() {
                    Some(t) => session.ended_at = Some(t),
                    None => diagnostics.push(err(i + 1, "t_s", "the end needs t_s (seconds)".to_owned())),
                },
                Some("command") => {}
                Some("session") => diagnostics.push(err(i + 1, "type", "a second session header".to_owned())),
                other => diagnostics.push(err(
                    i + 1,
                    "type",
                    format!("unknown line type {other:?} (known: session, command, note, ack, end)"),
                )),
            }
        }
        if let Some(s) = script {
            session.commands = s.commands;
            session.injections = s.injections;
        }
        if diagnostics.is_empty() {
            Ok(session)
        } else {
            scenarios::reader::sort_by_line(&mut diagnostics);
            Err(diagnostics)
        }
    }
}

/// Loads the exercise's scenario (jittered) and policy from the header.
pub fn exercise(h: &Header, diagnostics: &mut Vec<Diagnostic>) -> Option<Exercise> {
    let sc = match scenarios::load_scenario(&h.scenario) {
        Ok(s) => Some(s),
        Err(d) => {
            diagnostics.extend(d);
            None
        }
    };
    let policy = match scenarios::load_policy(&h.policy) {
        Ok(p) => Some(p),
        Err(d) => {
            diagnostics.extend(d);
            None
        }
    };
    let (sc, policy) = (sc?, policy?);
    let base = if h.jitter { gameday::jitter(&sc, h.seed) } else { sc };
    Some(Exercise { base, policy })
}

/// The debrief of a session, with its runs.
pub fn debrief_of(
    session: &Session,
    ex: &Exercise,
    team: String,
) -> (reports::debrief::DebriefView, gameday::Debrief, Scenario) {
    let h = &session.header;
    let sc = session.scenario(ex);
    let commands = session.replayed();
    let d = gameday::debrief(&sc, &ex.policy, &ex.policy, h.seed, h.assist, &commands);
    let lessons = gameday::lessons(&sc, &ex.policy, h.seed, h.assist, &commands, &d);
    let view = reports::debrief::DebriefView::new(&sc, h.seed, &d, lessons, team);
    (view, d, sc)
}

fn render_debrief(view: &reports::debrief::DebriefView, format: DebriefFormat) -> String {
    match format {
        DebriefFormat::Text => view.text(),
        DebriefFormat::Markdown => view.markdown(),
        DebriefFormat::Json => crate::pretty(&view.json()),
    }
}

/// What a key does, in the app's words (crossterm's keys map onto it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Backspace,
}

/// What the bottom line is collecting.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Normal,
    /// `:` — a command line.
    Command(String),
    Note(String),
    Weight(String),
    Inject(String),
    /// An action that ends the exercise (or the release's course), waiting for `y`.
    Confirm(Pending),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pending {
    Command(Command),
    Quit,
}

/// Alone, the trainee's pipeline starts the rollout on schedule (the steps
/// after it are the trainee's to take), unless the session starts it.
fn pipeline_start(session: &mut Session, ex: &Exercise) {
    if !session.header.assist && !session.commands.iter().any(|c| c.command == Command::Start) {
        session.commands.push(Scripted {
            at: SimTime::ZERO + ex.base.rollout_at,
            command: Command::Start,
            metric: None,
            by: Some(By::Script),
        });
    }
}

/// The exercise being played: the session so far, the clock, the screen's state.
pub struct App {
    pub ex: Exercise,
    pub session: Session,
    /// The scenario with the injected faults (recomputed on injection).
    sc: Scenario,
    pub now: SimTime,
    pub speed: f64,
    pub paused: bool,
    pub trainer: bool,
    /// Replaying a session: keys only pause, change speed and quit.
    pub read_only: bool,
    pub input: Input,
    pub message: String,
    pub quit: bool,
    pub frame: Frame,
}

impl App {
    pub fn new(ex: Exercise, mut session: Session, speed: f64, trainer: bool) -> App {
        pipeline_start(&mut session, &ex);
        let sc = session.scenario(&ex);
        let frame = gameday::frame(
            &sc,
            &ex.policy,
            session.header.seed,
            session.header.assist,
            &session.replayed(),
            SimTime::ZERO,
        );
        App {
            ex,
            session,
            sc,
            now: SimTime::ZERO,
            speed,
            paused: false,
            trainer,
            read_only: false,
            input: Input::Normal,
            message:
                "space pauses · p next step · h hold · r roll back · k kill switch · f roll forward · : command · q end"
                    .to_owned(),
            quit: false,
            frame,
        }
    }

    pub fn horizon(&self) -> SimTime {
        SimTime::ZERO + self.sc.duration
    }

    /// Recomputes the screen at the clock.
    pub fn refresh(&mut self) {
        let h = &self.session.header;
        let commands = if self.read_only {
            self.session.replayed()
        } else {
            self.session
                .replayed()
                .into_iter()
                .filter(|c| c.at <= self.now)
                .collect()
        };
        self.frame = gameday::frame(&self.sc, &self.ex.policy, h.seed, h.assist, &commands, self.now);
    }

    /// Moves the clock on by `dt` of simulated time (not while paused).
    pub fn advance(&mut self, dt: SimDuration) {
        if self.paused || self.quit {
            return;
        }
        self.now = (self.now + dt).min(self.horizon());
        self.refresh();
    }

    fn issue(&mut self, command: Command) {
        self.session.commands.push(Scripted {
            at: self.now,
            command,
            metric: None,
            by: Some(By::Trainee),
        });
        self.message = format!("{}: {}", clock(self.now), gameday::command_words(&command));
        self.refresh();
    }

    fn inject(&mut self, name: &str) {
        if gameday::injectable(name).is_none() {
            let known: Vec<&str> = INJECTABLE.iter().map(|(n, _)| *n).collect();
            self.message = format!("unknown fault {name:?} (known: {})", known.join(", "));
            return;
        }
        if self.sc.faults.len() >= sim_core::limits::FAULTS_MAX {
            self.message = format!("the scenario holds {} faults already: no more", self.sc.faults.len());
            return;
        }
        self.session.injections.push(Injection {
            at: self.now,
            fault: name.to_owned(),
            onset: gameday::injection_onset(self.now, self.frame.first_traffic),
        });
        self.sc = self.session.scenario(&self.ex);
        self.message = format!("{}: injected {name}", clock(self.now));
        self.refresh();
    }

    fn forward(&mut self) {
        let started = self.session.commands.iter().any(|c| c.command == Command::Start)
            || self.frame.rollout.stage != Stage::Idle;
        self.issue(if started { Command::NextStep } else { Command::Start });
    }

    /// Handles one key.
    pub fn key(&mut self, k: Key) {
        match std::mem::replace(&mut self.input, Input::Normal) {
            Input::Normal => self.normal(k),
            Input::Confirm(p) => {
                if k == Key::Char('y') {
                    match p {
                        Pending::Command(c) => self.issue(c),
                        Pending::Quit => self.end(),
                    }
                } else {
                    self.message = "cancelled".to_owned();
                }
            }
            Input::Command(s) => self.text(k, s, Input::Command, App::command_line),
            Input::Note(s) => self.text(k, s, Input::Note, |app, s| {
                if !s.trim().is_empty() {
                    app.session.notes.push((app.now, By::Trainee, s.trim().to_owned()));
                    app.message = format!("{}: note added", clock(app.now));
                }
            }),
            Input::Weight(s) => self.text(k, s, Input::Weight, |app, s| match s.trim().parse::<u32>() {
                Ok(w) if w <= 100 => app.issue(Command::SetWeight { weight: w }),
                _ => app.message = format!("{s:?} is not a weight in 0..=100"),
            }),
            Input::Inject(s) => self.text(k, s, Input::Inject, |app, s| app.inject(s.trim())),
        }
    }

    fn text(&mut self, k: Key, mut s: String, again: fn(String) -> Input, submit: fn(&mut App, &str)) {
        match k {
            Key::Enter => submit(self, &s),
            Key::Esc => self.message = "cancelled".to_owned(),
            Key::Backspace => {
                s.pop();
                self.input = again(s);
            }
            Key::Char(c) => {
                s.push(c);
                self.input = again(s);
            }
        }
    }

    fn normal(&mut self, k: Key) {
        let Key::Char(c) = k else {
            return;
        };
        match c {
            ' ' => self.paused = !self.paused,
            '+' => self.speed = (self.speed * 2.0).min(3600.0),
            '-' => self.speed = (self.speed / 2.0).max(1.0),
            'q' => self.input = Input::Confirm(Pending::Quit),
            _ if self.read_only => {}
            'p' => self.forward(),
            'h' => self.issue(if self.frame.rollout.stage == Stage::Held {
                Command::Resume
            } else {
                Command::Hold
            }),
            'r' => self.input = Input::Confirm(Pending::Command(Command::Rollback)),
            'k' => self.input = Input::Confirm(Pending::Command(Command::KillSwitch)),
            'f' => self.input = Input::Confirm(Pending::Command(Command::Hotfix)),
            'w' => self.input = Input::Weight(String::new()),
            'n' => self.input = Input::Note(String::new()),
            ':' => self.input = Input::Command(String::new()),
            'i' if self.trainer => self.input = Input::Inject(String::new()),
            'a' => {
                let firing: Vec<Metric> = self
                    .frame
                    .alerts
                    .iter()
                    .filter(|a| a.firing)
                    .map(|a| a.metric)
                    .collect();
                for m in &firing {
                    self.session.acks.push((self.now, *m));
                }
                self.message = format!("{} alert(s) acknowledged", firing.len());
            }
            _ => {}
        }
    }

    /// A `:` command line.
    fn command_line(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        let confirm = |c| Input::Confirm(Pending::Command(c));
        match word {
            "" => {}
            "next" | "next_step" | "p" => self.forward(),
            "start" => self.issue(Command::Start),
            "promote" => self.issue(Command::Promote),
            "hold" | "h" => self.issue(Command::Hold),
            "resume" => self.issue(Command::Resume),
            "rollback" | "r" => self.input = confirm(Command::Rollback),
            "kill" | "kill_switch" | "k" => self.input = confirm(Command::KillSwitch),
            "hotfix" | "rollforward" | "roll_forward" | "f" => self.input = confirm(Command::Hotfix),
            "weight" | "w" => match rest.first().and_then(|w| w.parse::<u32>().ok()) {
                Some(w) if w <= 100 => self.issue(Command::SetWeight { weight: w }),
                _ => self.message = "weight takes a number in 0..=100".to_owned(),
            },
            "note" | "n" => {
                self.session.notes.push((self.now, By::Trainee, rest.join(" ")));
                self.message = format!("{}: note added", clock(self.now));
            }
            "speed" => match rest.first().and_then(|s| s.parse::<f64>().ok()) {
                Some(s) if (1.0..=3600.0).contains(&s) => self.speed = s,
                _ => self.message = "speed takes simulated seconds per second, 1 to 3600".to_owned(),
            },
            "pause" => self.paused = !self.paused,
            "inject" if self.trainer => self.inject(rest.first().copied().unwrap_or("")),
            "quit" | "q" => self.input = Input::Confirm(Pending::Quit),
            other => {
                self.message = format!(
                    "unknown command {other:?} (next, promote, hold, resume, rollback, kill, hotfix, weight N, note TEXT, speed N, pause{}, quit)",
                    if self.trainer { ", inject FAULT" } else { "" }
                );
            }
        }
    }

    fn end(&mut self) {
        self.session.ended_at = Some(self.now);
        self.quit = true;
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".to_owned(), |v| format!("{:.2} %", v * 100.0))
}

fn ms(x: Option<f64>) -> String {
    x.map_or("—".to_owned(), |v| format!("{v:.0} ms"))
}

fn num(x: Option<f64>) -> String {
    x.map_or("—".to_owned(), |v| format!("{v:.0}"))
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Idle => "not started",
        Stage::Deploying => "deploying",
        Stage::Preview => "preview",
        Stage::Stepping => "stepping",
        Stage::Promoted => "promoted",
        Stage::RollingBack => "rolling back",
        Stage::RolledBack => "rolled back",
        Stage::Held => "held",
        Stage::Paged => "paged",
        Stage::Killed => "flags killed",
        Stage::Hotfixing => "rolling forward (hotfix)",
    }
}

/// The sparkline of one reading for one arm, scaled to whole units.
fn spark(frame: &Frame, arm: usize, f: fn(&Readings) -> Option<f64>, scale: f64) -> Vec<u64> {
    frame
        .history
        .iter()
        .map(|(_, r)| f(&r[arm]).map_or(0, |v| (v * scale).max(0.0).round() as u64))
        .collect()
}

/// Draws the dashboard: a pure function of the app and its frame.
pub fn draw(f: &mut Screen<'_>, app: &App) {
    let fr = &app.frame;
    let trainer_rows = if app.trainer { 7 } else { 0 };
    let [top, status, table, sparks, alerts, log, truth, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(13),
        Constraint::Length(6),
        Constraint::Length(2 + fr.alerts.len().max(1) as u16),
        Constraint::Min(3),
        Constraint::Length(trainer_rows),
        Constraint::Length(2),
    ])
    .areas(f.area());
    let h = &app.session.header;
    let name = if h.mystery && !app.trainer {
        format!("mystery exercise (seed {})", h.seed)
    } else {
        format!("{} (seed {})", app.sc.name, h.seed)
    };
    let mode = if h.assist {
        "assist: the policy runs"
    } else {
        "trainee alone"
    };
    let clock_line = Line::from(vec![
        Span::styled(" aviary game day ", Style::new().add_modifier(Modifier::REVERSED)),
        Span::raw(format!("  {name}   ")),
        Span::styled(
            format!("{} / {}", clock(fr.now), clock(fr.horizon)),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("   ×{:.0}", app.speed)),
        Span::styled(
            if app.paused { "   PAUSED" } else { "" },
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("   {mode}")),
    ]);
    f.render_widget(Paragraph::new(clock_line), top);
    let r = fr.rollout;
    let step = r.step.map_or("—".to_owned(), |s| format!("{} of {}", s + 1, r.steps));
    let status_line = format!(
        " rollout: {}{}   step {step}   canary weight {} %{}",
        stage_name(r.stage),
        if r.waiting { " (waiting for instances)" } else { "" },
        r.weight,
        if fr.ended {
            "   — the horizon is reached: q ends the exercise"
        } else {
            ""
        }
    );
    f.render_widget(Paragraph::new(status_line), status);

    let [b, c] = fr.arms;
    let migrating = app.sc.migration.is_some();
    let mut rows = vec![
        ("requests (last minute)", b.requests.to_string(), c.requests.to_string()),
        ("served per second", num(b.throughput_rps), num(c.throughput_rps)),
        ("errors", pct(b.error_rate), pct(c.error_rate)),
        ("response p50", ms(b.p50_ms), ms(c.p50_ms)),
        ("response p95", ms(b.p95_ms), ms(c.p95_ms)),
        ("response p99", ms(b.p99_ms), ms(c.p99_ms)),
        ("CPU", pct(b.cpu), pct(c.cpu)),
        ("memory (of limit)", pct(b.memory), pct(c.memory)),
        ("conversion", pct(b.conversion_rate), pct(c.conversion_rate)),
    ];
    if migrating {
        rows.push((
            "backfill lag (rows)",
            num(b.backfill_lag_rows),
            num(c.backfill_lag_rows),
        ));
        rows.push(("mismatched rows", num(b.mismatched_rows), num(c.mismatched_rows)));
    }
    let table_widget = Table::new(
        rows.into_iter()
            .map(|(n, x, y)| Row::new(vec![Cell::from(n), Cell::from(x), Cell::from(y)])),
        [Constraint::Length(24), Constraint::Length(16), Constraint::Length(16)],
    )
    .header(Row::new(vec!["", "stable", "canary"]).style(Style::new().add_modifier(Modifier::BOLD)))
    .block(Block::bordered().title(" monitoring (last minute, as ingested) "));
    f.render_widget(table_widget, table);

    let [s1, s2, s3, s4] = Layout::horizontal([Constraint::Ratio(1, 4); 4]).areas(sparks);
    let sparkline = |title: String, data: Vec<u64>| {
        Sparkline::default()
            .block(Block::bordered().title(title))
            .data(data)
            .style(Style::new().fg(Color::Cyan))
    };
    let err = |r: &Readings| r.error_rate;
    let p99 = |r: &Readings| r.p99_ms;
    f.render_widget(sparkline(" errors ‱, stable ".into(), spark(fr, 0, err, 10_000.0)), s1);
    f.render_widget(sparkline(" errors ‱, canary ".into(), spark(fr, 1, err, 10_000.0)), s2);
    f.render_widget(sparkline(" p99, stable ".into(), spark(fr, 0, p99, 1.0)), s3);
    f.render_widget(sparkline(" p99, canary ".into(), spark(fr, 1, p99, 1.0)), s4);

    let acked = |m: Metric| app.session.acks.iter().any(|(_, a)| *a == m);
    let mut alert_lines: Vec<Line> = fr
        .alerts
        .iter()
        .map(|a| {
            let (word, style) = if a.firing {
                ("FIRING  ", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD))
            } else if a.resolved {
                ("resolved", Style::new().fg(Color::Green))
            } else {
                ("ok      ", Style::new().fg(Color::Green))
            };
            let values = format!(
                "  canary {} vs stable {}",
                a.canary.map_or("—".to_owned(), |v| format!("{v:.4}")),
                a.baseline.map_or("—".to_owned(), |v| format!("{v:.4}"))
            );
            let since = a.since.map_or(String::new(), |t| format!("  since {}", clock(t)));
            let ack = if a.firing && acked(a.metric) {
                "  (acknowledged)"
            } else {
                ""
            };
            Line::from(vec![
                Span::styled(word, style),
                Span::raw(format!(
                    "  {} {}{values}{since}{ack}",
                    gameday::metric_label(a.metric),
                    a.rule
                )),
            ])
        })
        .collect();
    if alert_lines.is_empty() {
        alert_lines.push(Line::from(
            "no alerting rules: the policy's checks use statistical judges",
        ));
    }
    f.render_widget(
        Paragraph::new(alert_lines).block(Block::bordered().title(" alerts ")),
        alerts,
    );

    let room = log.height.saturating_sub(2) as usize;
    let mut timed: Vec<(SimTime, String)> = fr.log.clone();
    timed.extend(app.session.notes.iter().map(|(t, _, s)| (*t, format!("note: {s}"))));
    timed.sort_by_key(|(t, _)| *t); // stable: same-instant lines as they came
    let events: Vec<String> = timed.iter().map(|(t, s)| format!("{}  {s}", clock(*t))).collect();
    let shown: Vec<Line> = events
        .iter()
        .skip(events.len().saturating_sub(room))
        .map(|s| Line::from(s.as_str()))
        .collect();
    f.render_widget(Paragraph::new(shown).block(Block::bordered().title(" events ")), log);

    if app.trainer {
        let t = &fr.truth;
        let onsets: Vec<String> = t
            .fault_onsets
            .iter()
            .map(|(at, i)| match i.and_then(|i| app.sc.faults.get(i)) {
                Some(f) => format!("{} at {}", f.effect.kind(), clock(*at)),
                None => format!("the candidate's own regression at {}", clock(*at)),
            })
            .collect();
        let lines = vec![
            Line::from(format!(
                " scenario {}: {} fault(s) {}",
                app.sc.name,
                app.sc.faults.len(),
                if app.sc.is_healthy() { "(healthy release)" } else { "" }
            )),
            Line::from(format!(
                " in force: {}",
                if onsets.is_empty() {
                    "none yet".to_owned()
                } else {
                    onsets.join(", ")
                }
            )),
            Line::from(format!(
                " first harmed request: {}",
                t.harm_onset.map_or("none yet".to_owned(), clock)
            )),
            Line::from(format!(
                " blast radius as of {}: {} failed, {} slow, {} users affected, {} conversions lost, {} records lost",
                t.as_of.map_or("—".to_owned(), clock),
                t.so_far.failed_requests,
                t.so_far.slow_requests,
                t.so_far.users_affected,
                t.so_far.lost_conversions,
                t.so_far.records_lost
            )),
            Line::from(format!(
                " i injects a fault: {}",
                INJECTABLE.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        ];
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" game master: ground truth (hidden from the trainee) ")),
            truth,
        );
    }

    let prompt = match &app.input {
        Input::Normal => app.message.clone(),
        Input::Command(s) => format!(":{s}"),
        Input::Note(s) => format!("note: {s}"),
        Input::Weight(s) => format!("weight (0-100): {s}"),
        Input::Inject(s) => format!(
            "inject which fault ({}): {s}",
            INJECTABLE.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ),
        Input::Confirm(Pending::Quit) => "end the exercise? y to confirm".to_owned(),
        Input::Confirm(Pending::Command(c)) => format!("{}? y to confirm", gameday::command_words(c)),
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::from(prompt),
            Line::from(Span::styled(
                " space pause  +/- speed  p next/promote  h hold  r roll back  k kill switch  f roll forward  w weight  a ack  n note  : command  q end",
                Style::new().fg(Color::DarkGray),
            )),
        ]),
        bottom,
    );
}

/// Writes the session log through a temporary file.
fn save(app: &App, path: &Path) -> Result<(), Failure> {
    let upto = if app.quit || app.frame.ended {
        app.horizon()
    } else {
        app.now
    };
    crate::write_atomic(path, app.session.jsonl(&app.ex, upto).as_bytes())
}

/// The live loop on the terminal.
fn play(app: &mut App, session_path: Option<&Path>) -> Result<(), Failure> {
    use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind};
    use ratatui::crossterm::execute;
    use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
    // The dashboard draws on stderr, so stdout stays free for the debrief
    // (`aviary gameday ... > debrief.txt`).
    let restore = || {
        let _ = disable_raw_mode();
        let _ = execute!(
            std::io::stderr(),
            LeaveAlternateScreen,
            ratatui::crossterm::cursor::Show
        );
    };
    let open = || -> std::io::Result<ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stderr>>> {
        enable_raw_mode()?;
        execute!(std::io::stderr(), EnterAlternateScreen)?;
        ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stderr()))
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stderr(), LeaveAlternateScreen);
        hook(info);
    }));
    let mut terminal = match open() {
        Ok(t) => t,
        Err(e) => {
            restore();
            return Err(Failure::Usage(format!("cannot open the terminal: {e}")));
        }
    };
    let mut last = Instant::now();
    let mut result = Ok(());
    while !app.quit {
        if let Err(e) = terminal.draw(|f| draw(f, app)) {
            result = Err(Failure::Usage(format!("cannot draw: {e}")));
            break;
        }
        let tick = Duration::from_millis(100);
        let polled = event::poll(tick).unwrap_or(false);
        if polled {
            match event::read() {
                Ok(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => {
                    let key = match k.code {
                        KeyCode::Char(c) => Some(Key::Char(c)),
                        KeyCode::Enter => Some(Key::Enter),
                        KeyCode::Esc => Some(Key::Esc),
                        KeyCode::Backspace => Some(Key::Backspace),
                        _ => None,
                    };
                    if let Some(key) = key {
                        let before = app.session.clone();
                        app.key(key);
                        if app.session != before
                            && let Some(p) = session_path
                            && let Err(e) = save(app, p)
                        {
                            result = Err(e);
                            break;
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    result = Err(Failure::Usage(format!("cannot read the terminal: {e}")));
                    break;
                }
            }
        }
        let elapsed = last.elapsed();
        last = Instant::now();
        if !matches!(app.input, Input::Normal) {
            continue; // the clock stops while the trainee types
        }
        app.advance(SimDuration::from_secs_f64(elapsed.as_secs_f64() * app.speed));
    }
    restore();
    drop(std::panic::take_hook());
    result
}

/// `aviary gameday`.
pub(crate) fn run_gameday(a: GamedayArgs, io: &mut Io<'_>) -> Result<String, Failure> {
    if !(1.0..=3600.0).contains(&a.speed) {
        return Err(Failure::Usage(format!("--speed {} is out of range 1..=3600", a.speed)));
    }
    let scenario = match (&a.scenario, a.mystery) {
        (Some(s), false) => s.clone(),
        (None, true) => {
            let names: Vec<String> = if a.from.is_empty() {
                scenarios::catalog::SCENARIOS
                    .iter()
                    .map(|b| b.name.to_owned())
                    .collect()
            } else {
                a.from.clone()
            };
            names[gameday::mystery_pick(&names, a.seed)].clone()
        }
        (Some(_), true) => {
            return Err(Failure::Usage(
                "--mystery picks the scenario: give no SCENARIO (use --from a,b,c to choose the list)".to_owned(),
            ));
        }
        (None, false) => return Err(Failure::Usage("give a SCENARIO, or --mystery".to_owned())),
    };
    let mut diagnostics = Vec::new();
    let policy = a
        .policy
        .clone()
        .or_else(|| scenarios::load_scenario(&scenario).ok().and_then(|s| s.policy));
    let header = Header {
        scenario,
        seed: a.seed,
        policy: policy.unwrap_or_else(|| "default".to_owned()),
        assist: a.assist,
        jitter: a.jitter,
        mystery: a.mystery,
    };
    let script = match a.script.as_deref().map(scenarios::load_script) {
        Some(Ok(s)) => Some(s),
        Some(Err(d)) => {
            diagnostics.extend(d);
            None
        }
        None => None,
    };
    let ex = exercise(&header, &mut diagnostics);
    let Some(ex) = ex.filter(|_| diagnostics.is_empty()) else {
        return Err(Failure::Input(diagnostics));
    };
    if let Some(script) = &script
        && ex.base.faults.len() + script.injections.len() > sim_core::limits::FAULTS_MAX
    {
        return Err(Failure::Usage(format!(
            "{}: {} injected faults: the scenario may hold at most {} in all",
            a.script.as_ref().map_or(String::new(), |p| p.display().to_string()),
            script.injections.len(),
            sim_core::limits::FAULTS_MAX
        )));
    }
    let mut session = Session::new(header);
    let Some(mut script) = script else {
        if !io.stderr_is_terminal {
            return Err(Failure::Usage(
                "the game day draws its dashboard on the terminal (stderr is not one): or --script FILE to play headless".to_owned(),
            ));
        }
        let mut app = App::new(ex, session, a.speed, a.trainer);
        play(&mut app, a.session.as_deref())?;
        if let Some(p) = &a.session {
            save(&app, p)?;
        }
        let (view, _, _) = debrief_of(&app.session, &app.ex, "you".to_owned());
        return Ok(render_debrief(&view, a.format));
    };
    session.commands = script
        .commands
        .into_iter()
        .map(|c| Scripted {
            by: c.by.or(Some(By::Trainee)),
            ..c
        })
        .collect();
    pipeline_start(&mut session, &ex);
    // A fault injected at `at` is in force from `at` at the earliest (its
    // onset counts from the candidate's first traffic, known by then).
    for i in 0..script.injections.len() {
        let inj = &script.injections[i];
        let before: Vec<Scripted> = session.commands.iter().filter(|c| c.at < inj.at).copied().collect();
        let sc = gameday::with_injections(&ex.base, &script.injections[..i]);
        let first = gameday::frame(&sc, &ex.policy, a.seed, a.assist, &before, inj.at).first_traffic;
        let earliest = gameday::injection_onset(inj.at, first);
        let inj = &mut script.injections[i];
        inj.onset = inj.onset.max(earliest);
    }
    session.injections = script.injections;
    let app = App::new(ex, session, a.speed, a.trainer);
    let mut session = app.session;
    session.ended_at = Some(SimTime::ZERO + app.sc.duration);
    if let Some(p) = &a.session {
        crate::write_atomic(p, session.jsonl(&app.ex, SimTime::ZERO + app.sc.duration).as_bytes())?;
    }
    let (view, _, _) = debrief_of(&session, &app.ex, "you".to_owned());
    Ok(render_debrief(&view, a.format))
}

fn load_session(path: &Path) -> Result<(Session, Exercise), Failure> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Input(vec![Diagnostic {
            file: label.clone(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
            ..Default::default()
        }])
    })?;
    let session = Session::parse(&label, &text).map_err(Failure::Input)?;
    let mut diagnostics = Vec::new();
    let ex = exercise(&session.header, &mut diagnostics);
    match ex {
        Some(ex) if diagnostics.is_empty() => Ok((session, ex)),
        _ => Err(Failure::Input(diagnostics)),
    }
}

/// `aviary replay`.
pub(crate) fn run_replay(a: ReplayArgs, io: &mut Io<'_>) -> Result<String, Failure> {
    let (session, ex) = load_session(&a.file)?;
    if a.dashboard {
        if !io.stderr_is_terminal {
            return Err(Failure::Usage(
                "--dashboard draws on the terminal (stderr is not one)".to_owned(),
            ));
        }
        let mut app = App::new(ex, session.clone(), a.speed, false);
        app.read_only = true;
        app.message = "replaying: space pauses, +/- speed, q ends".to_owned();
        app.refresh();
        play(&mut app, None)?;
        let (view, _, _) = debrief_of(&session, &app.ex, "you".to_owned());
        return Ok(render_debrief(&view, a.format));
    }
    let (view, _, _) = debrief_of(&session, &ex, "you".to_owned());
    Ok(render_debrief(&view, a.format))
}

/// `aviary debrief`.
pub(crate) fn run_debrief(a: DebriefArgs, _io: &mut Io<'_>) -> Result<String, Failure> {
    let mut views = Vec::new();
    let mut first = None;
    for path in &a.files {
        let (session, ex) = load_session(path)?;
        let team = path
            .file_stem()
            .map_or("team".to_owned(), |s| s.to_string_lossy().into_owned());
        let (view, d, sc) = debrief_of(&session, &ex, team);
        if let Some((h, _, _, _)) = &first {
            let h: &Header = h;
            if h.scenario != session.header.scenario || h.seed != session.header.seed {
                return Err(Failure::Usage(format!(
                    "{}: played {} seed {}, not {} seed {}: a ranking compares teams on the same seed",
                    path.display(),
                    session.header.scenario,
                    session.header.seed,
                    h.scenario,
                    h.seed
                )));
            }
        } else {
            first = Some((session.header.clone(), d, sc, view.clone()));
        }
        views.push(view);
    }
    if let (Some(path), Some((_, d, sc, view))) = (&a.plot, &first) {
        reports::debrief::plot(path, view, d, SimTime::ZERO + sc.duration).map_err(Failure::Usage)?;
    }
    if views.len() == 1 {
        return Ok(render_debrief(&views[0], a.format));
    }
    Ok(match a.format {
        DebriefFormat::Json => crate::pretty(&reports::debrief::ranking_json(&views)),
        DebriefFormat::Text => {
            let mut out = reports::debrief::ranking(&views, false);
            for v in &views {
                out.push_str(&format!("\n== {} ==\n", v.team));
                out.push_str(&v.text());
            }
            out
        }
        DebriefFormat::Markdown => {
            let mut out = format!("## Ranking: {} (seed {})\n\n", views[0].scenario, views[0].seed);
            out.push_str(&reports::debrief::ranking(&views, true));
            for v in &views {
                out.push_str(&format!("\n### {}\n\n", v.team));
                out.push_str(&v.markdown());
            }
            out
        }
    })
}
