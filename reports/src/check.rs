//! `aviary check`: the findings as a terminal table, JSON, Markdown (a pull
//! request's summary), JUnit XML and a plain-text snapshot whose lines
//! change only when a result does.

use serde_json::{Value, json};
use sim_core::check::{Finding, Verdict};
use sim_core::compare::{Score, Unit};

use crate::compare::{label, num, signed, value};

/// One finding as reported.
pub struct Row<'a> {
    pub finding: &'a Finding,
    /// Whether the two sides were paired runs (same seeds, same world).
    pub paired: bool,
    /// The `aviary run …` command line of the run that shows the change
    /// worst.
    pub reproduce: Option<String>,
}

/// A whole check.
pub struct Report<'a> {
    pub suite: &'a str,
    /// The policy checked (as given).
    pub policy: &'a str,
    /// What it is checked against, in words: `baseline FILE (policy P)`.
    pub against: String,
    pub seeds: u64,
    pub seed: u64,
    pub rows: Vec<Row<'a>>,
    /// Things a reader should know (a scenario without a baseline, a
    /// comparison that could not be paired and why).
    pub notes: Vec<String>,
}

impl Report<'_> {
    fn with(&self, verdict: Verdict) -> impl Iterator<Item = &Row<'_>> {
        self.rows.iter().filter(move |r| r.finding.verdict == verdict)
    }

    pub fn regressions(&self) -> usize {
        self.with(Verdict::Regression).count()
    }

    pub fn passed(&self) -> bool {
        self.regressions() == 0
    }

    fn pairing(&self) -> String {
        let paired = self.rows.iter().filter(|r| r.paired).count();
        if paired == self.rows.len() {
            format!("{} paired runs per scenario (seed {})", self.seeds, self.seed)
        } else if paired == 0 {
            format!("{} runs per scenario, seed {}, unpaired", self.seeds, self.seed)
        } else {
            format!("{} runs per scenario, seed {}, partly unpaired", self.seeds, self.seed)
        }
    }

    fn headline(&self) -> String {
        let (r, i) = (self.regressions(), self.with(Verdict::Improvement).count());
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let status = if r == 0 {
            "passed".to_owned()
        } else {
            format!("FAILED: {}", plural(r, "regression"))
        };
        let unchanged = self.with(Verdict::Unchanged).count();
        let undefined = self.with(Verdict::Undefined).count();
        let not_judged = if undefined == 0 {
            String::new()
        } else {
            format!(
                ", {undefined} not judged (undefined, or fewer than {} runs count)",
                sim_core::check::MIN_COUNTED
            )
        };
        format!(
            "{status}; {}, {unchanged} unchanged within tolerance{not_judged}",
            plural(i, "improvement")
        )
    }
}

/// Each distinct reproducing command of the regressions, with the scores
/// whose worst run it is, in report order.
fn reproductions<'a>(rows: &[&'a Row<'_>]) -> Vec<(&'a str, Vec<&'static str>)> {
    let mut out: Vec<(&str, Vec<&'static str>)> = Vec::new();
    for r in rows {
        let Some(cmd) = r.reproduce.as_deref() else { continue };
        match out.iter_mut().find(|(c, _)| *c == cmd) {
            Some((_, scores)) => scores.push(r.finding.score.key()),
            None => out.push((cmd, vec![r.finding.score.key()])),
        }
    }
    out
}

fn interval(score: Score, ci: Option<[f64; 2]>) -> String {
    ci.map_or_else(
        || "–".to_owned(),
        |[lo, hi]| format!("[{}, {}]", signed(score, lo), signed(score, hi)),
    )
}

fn shown(score: Score, v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |x| value(score, x))
}

/// The change with its unit word.
fn change(score: Score, d: Option<f64>) -> String {
    let Some(d) = d else { return "–".to_owned() };
    let unit = match score.unit() {
        Unit::Rate | Unit::Budget => " pts",
        _ => "",
    };
    format!("{}{unit}", if d == 0.0 { "0".to_owned() } else { signed(score, d) })
}

fn tolerance(f: &Finding) -> String {
    f.tolerance.text(f.score)
}

fn cells(r: &Row<'_>) -> [String; 7] {
    let f = r.finding;
    [
        f.scenario.clone(),
        f.score.key().to_owned(),
        shown(f.score, f.baseline),
        shown(f.score, f.current),
        change(f.score, f.delta),
        interval(f.score, f.ci95),
        tolerance(f),
    ]
}

const HEADER: [&str; 7] = [
    "scenario",
    "score",
    "baseline",
    "current",
    "change",
    "95 % interval",
    "tolerance",
];

/// The terminal report: the verdict, then every regression and
/// improvement with the command that reproduces its worst run.
pub fn check_table(c: &Report<'_>) -> String {
    let mut out = format!(
        "aviary check: suite {}, policy {} against {}, {}\n\n{}\n",
        c.suite,
        c.policy,
        c.against,
        c.pairing(),
        c.headline()
    );
    for (verdict, title) in [
        (Verdict::Regression, "regressions"),
        (Verdict::Improvement, "improvements"),
    ] {
        let rows: Vec<&Row<'_>> = c.with(verdict).collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}\n"));
        let table: Vec<[String; 7]> = rows.iter().map(|r| cells(r)).collect();
        out.push_str(&crate::text_table(
            &HEADER,
            &table,
            &[true, true, false, false, false, false, false],
        ));
        if verdict == Verdict::Regression {
            out.push_str("\nreproduce the worst run of each:\n");
            for r in rows {
                if let Some(cmd) = &r.reproduce {
                    out.push_str(&format!(
                        "  {cmd}   # {} {}\n",
                        r.finding.scenario,
                        r.finding.score.key()
                    ));
                }
            }
        }
    }
    for n in &c.notes {
        out.push_str(&format!("\nnote: {n}"));
    }
    if !c.notes.is_empty() {
        out.push('\n');
    }
    out
}

fn row_json(r: &Row<'_>) -> Value {
    let f = r.finding;
    let pair = |ci: Option<[f64; 2]>| {
        ci.map_or(Value::Null, |[lo, hi]| {
            json!([num(f.score, Some(lo)), num(f.score, Some(hi))])
        })
    };
    json!({
        "scenario": f.scenario,
        "score": f.score.key(),
        "baseline": num(f.score, f.baseline),
        "current": num(f.score, f.current),
        "delta": num(f.score, f.delta),
        "ci95": pair(f.ci95),
        "decision_interval": pair(f.decision),
        "tolerance": tolerance(f),
        "allowed": num(f.score, Some(f.allowed)),
        "paired": r.paired,
        "counted": f.counted,
        "reproduce": r.reproduce,
    })
}

/// The `check --format json` document.
pub fn check_json(c: &Report<'_>) -> Value {
    crate::document(check_json_fields(c))
}

fn check_json_fields(c: &Report<'_>) -> Value {
    let list = |v: Verdict| c.with(v).map(row_json).collect::<Vec<_>>();
    json!({
        "passed": c.passed(),
        "suite": c.suite,
        "policy": c.policy,
        "against": c.against,
        "seeds": c.seeds,
        "seed": c.seed,
        "regressions": list(Verdict::Regression),
        "improvements": list(Verdict::Improvement),
        "unchanged": c.with(Verdict::Unchanged).count(),
        "undefined": c.with(Verdict::Undefined).count(),
        "notes": c.notes,
    })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown summary a pull request gets.
pub fn check_markdown(c: &Report<'_>) -> String {
    let mut out = format!(
        "### aviary check: {}\n\nPolicy `{}` against {} on suite `{}`: {}.\n",
        c.headline(),
        md_escape(c.policy),
        md_escape(&c.against),
        md_escape(c.suite),
        c.pairing()
    );
    for (verdict, title) in [
        (Verdict::Regression, "Regressions"),
        (Verdict::Improvement, "Improvements"),
    ] {
        let rows: Vec<&Row<'_>> = c.with(verdict).collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n**{title}**\n\n| {} |\n|", HEADER.join(" | ")));
        out.push_str(&"---|".repeat(HEADER.len()));
        out.push('\n');
        for r in &rows {
            let cells = cells(r).map(|x| md_escape(&x));
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        if verdict == Verdict::Regression {
            out.push_str("\nReproduce the worst run of each:\n\n```sh\n");
            for (cmd, scores) in reproductions(&rows) {
                out.push_str(&format!("{cmd}   # {}\n", scores.join(", ")));
            }
            out.push_str("```\n");
        }
    }
    for n in &c.notes {
        out.push_str(&format!("\n> {}\n", md_escape(n)));
    }
    out
}

/// One line per scenario and score, in a fixed order and at a fixed
/// precision: a line changes only when that result changed.
pub fn check_snapshot(c: &Report<'_>) -> String {
    let mut out = format!(
        "aviary check snapshot\nsuite {}\npolicy {}\nagainst {}\nseeds {}\nseed {}\n",
        c.suite, c.policy, c.against, c.seeds, c.seed
    );
    let table: Vec<[String; 8]> = c
        .rows
        .iter()
        .map(|r| {
            let [s, k, b, cur, d, ci, tol] = cells(r);
            let verdict = match r.finding.verdict {
                Verdict::Regression => "REGRESSION",
                Verdict::Improvement => "improvement",
                Verdict::Unchanged => "unchanged",
                Verdict::Undefined => "undefined",
            };
            [s, k, b, cur, d, ci, tol, verdict.to_owned()]
        })
        .collect();
    let header = [
        "scenario",
        "score",
        "baseline",
        "current",
        "change",
        "95 % interval",
        "tolerance",
        "verdict",
    ];
    out.push_str(&crate::text_table(
        &header,
        &table,
        &[true, true, false, false, false, false, false, true],
    ));
    out.push_str(&format!("result: {}\n", c.headline()));
    out
}

/// JUnit XML: a test suite per scenario, a test case per score.
///
/// # Errors
/// If the XML cannot be written.
pub fn check_junit(c: &Report<'_>) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut report = quick_junit::Report::new(format!("aviary check {}", c.suite));
    let mut order: Vec<&str> = Vec::new();
    for r in &c.rows {
        if !order.contains(&r.finding.scenario.as_str()) {
            order.push(&r.finding.scenario);
        }
    }
    for scenario in order {
        let mut suite = TestSuite::new(scenario);
        for r in c.rows.iter().filter(|r| r.finding.scenario == scenario) {
            let f = r.finding;
            let status = match f.verdict {
                Verdict::Regression => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    let message = format!(
                        "{} on {} regressed: {} -> {}, change {} {} (95 %), tolerance {}",
                        label(f.score),
                        f.scenario,
                        shown(f.score, f.baseline),
                        shown(f.score, f.current),
                        change(f.score, f.delta),
                        interval(f.score, f.ci95),
                        tolerance(f)
                    );
                    let description = match &r.reproduce {
                        Some(cmd) => format!("{message}\nreproduce the worst run: {cmd}\n"),
                        None => format!("{message}\n"),
                    };
                    s.set_message(message);
                    s.set_type("regression");
                    s.set_description(description);
                    s
                }
                Verdict::Undefined => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!(
                        "not judged: {} and {} runs count towards {} (a verdict needs {} on each side)",
                        f.counted[0],
                        f.counted[1],
                        f.score.key(),
                        sim_core::check::MIN_COUNTED
                    ));
                    s
                }
                Verdict::Improvement | Verdict::Unchanged => TestCaseStatus::success(),
            };
            let mut case = TestCase::new(f.score.key(), status);
            case.set_classname(format!("aviary.check.{scenario}"));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit report: {e}"))
}
