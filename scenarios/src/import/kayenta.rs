//! Kayenta: a canary config (JSON or YAML) as an aviary policy of
//! Mann-Whitney checks scored by Kayenta's weighted-sum scorer, run the way
//! Spinnaker's canary stage runs it.
//!
//! Followed from spinnaker/kayenta: `CanaryConfigController.java`
//! (`validateMetricConfigNames`: a duplicated metric name is rejected,
//! "Metric config name must be unique. 'NAME' is duplicated."),
//! `WeightedSumScorer.scala` (groups without a weight share what is left
//! of 100; a weight of a group with no metric is not redistributed, so the
//! score is capped), `NetflixACAJudge.scala` and `MannWhitney` (per metric
//! `direction`, default either; `critical`; `nanStrategy`; `effectSize`;
//! `mustHaveData`; `outliers`). A canary config holds no schedule: the
//! stage's lifetime, interval and thresholds come from [`Stage`].
//! Decisions are in docs/interop.md.

use std::collections::BTreeMap;

use sim_core::time::SimDuration;

use super::yaml::{Map, Node, Report, Value, maps};
use super::{Draft, DraftCheck, DraftStep, Options, at, number, promql, quote};

/// The Spinnaker canary stage's settings (`kayentaCanary`'s
/// `canaryConfig`), which a canary config does not hold.
#[derive(Clone, Debug)]
pub struct Stage {
    /// `lifetimeDuration`: how long the canary runs.
    pub lifetime: SimDuration,
    /// `canaryAnalysisIntervalMins`; `None`: one analysis at the end.
    pub interval: Option<SimDuration>,
    /// `beginCanaryAnalysisAfterMins`.
    pub begin_after: SimDuration,
    /// `lookbackMins`: each interval judges the last this long; `None`:
    /// everything since the analysis began.
    pub lookback: Option<SimDuration>,
    /// `baselineAnalysisOffsetInMins`: the baseline's data is this much older.
    pub baseline_offset: SimDuration,
    /// The canary's share of traffic (Spinnaker sizes server groups; aviary
    /// routes a weight).
    pub weight: u32,
    /// `scoreThresholds` of the run request; `None`: the config's
    /// classifier, else 95 and 75.
    pub pass: Option<f64>,
    pub marginal: Option<f64>,
}

impl Default for Stage {
    fn default() -> Stage {
        Stage {
            lifetime: SimDuration::from_secs(3600),
            interval: None,
            begin_after: SimDuration::ZERO,
            lookback: None,
            baseline_offset: SimDuration::ZERO,
            weight: 5,
            pass: None,
            marginal: None,
        }
    }
}

pub fn read(docs: &[(&str, Node)], opts: &Options, r: &mut Report) -> Option<Draft> {
    let (file, doc) = match docs {
        [one] => (one.0, &one.1),
        [] => {
            r.error("", 0, "", "no Kayenta canary config in the files given");
            return None;
        }
        [_, (f, d), ..] => {
            r.error(f, d.line, "", "a second document: give one Kayenta canary config");
            return None;
        }
    };
    let mut top = Map::new(file, "", doc, r)?;
    let name = top.str("name", r).unwrap_or("kayenta").to_owned();
    let description = top.str("description", r).unwrap_or("").to_owned();
    top.ignore(&[
        "id",
        "createdTimestamp",
        "updatedTimestamp",
        "createdTimestampIso",
        "updatedTimestampIso",
        "applications",
        "configVersion",
        "templates",
        "judge",
    ]);
    let items = top.seq("metrics", r).unwrap_or(&[]);
    // CanaryConfigController.validateMetricConfigNames.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, n) in items.iter().enumerate() {
        if let Value::Map(entries) = &n.value
            && let Some((_, line, v)) = entries.iter().find(|(k, _, _)| k == "name")
            && let Value::Str(mname) = &v.value
        {
            if let Some(first) = seen.get(mname) {
                r.error(
                    file,
                    *line,
                    &format!("metrics[{i}].name"),
                    format!("Metric config name must be unique. '{mname}' is duplicated. (first on line {first}; Kayenta rejects this config)"),
                );
            } else {
                seen.insert(mname.clone(), *line);
            }
        }
    }
    let mut weights: Vec<(String, f64)> = Vec::new();
    let (mut pass, mut marginal) = (None, None);
    let cline;
    if let Some(mut c) = top.map("classifier", r) {
        cline = c.line;
        if let Some(mut gw) = c.map("groupWeights", r) {
            for k in gw.keys() {
                if let Some(w) = gw.num(&k, r) {
                    weights.push((k, w));
                }
            }
        }
        if let Some(mut st) = c.map("scoreThresholds", r) {
            pass = st.num("pass", r);
            marginal = st.num("marginal", r);
            st.finish(r, "Kayenta");
        }
        c.finish(r, "Kayenta");
    } else {
        cline = 0;
    }
    let mut checks = Vec::new();
    let mut groups_used: Vec<String> = Vec::new();
    for m in maps(file, "metrics", items, r) {
        if let Some((c, group)) = metric(m, opts, r) {
            if !groups_used.contains(&group) {
                groups_used.push(group);
            }
            checks.push(c);
        }
    }
    top.finish(r, "Kayenta");
    if !r.errors.is_empty() {
        return None;
    }
    let mut d = Draft {
        name: name.clone(),
        description: if description.is_empty() {
            format!("Kayenta canary config {name}, imported from {file}.")
        } else {
            format!("{description} (Kayenta canary config {name}, imported from {file}.)")
        },
        ..Draft::default()
    };
    let stage = &opts.stage;
    d.set(
        "strategy = \"canary\"",
        "Spinnaker's canary stage: a canary beside a baseline",
    );
    d.set(
        "rollback_delay = \"0s\"",
        "the stage fails and the pipeline's rollback runs",
    );
    d.steps = vec![
        DraftStep {
            weight: stage.weight,
            pause: stage.begin_after + stage.lifetime,
            source: format!(
                "beginCanaryAnalysisAfterMins ({}) and the stage's lifetimeDuration ({}) at {} % (--begin-after, --lifetime, --canary-weight)",
                stage.begin_after, stage.lifetime, stage.weight
            ),
        },
        DraftStep {
            weight: 100,
            pause: SimDuration::ZERO,
            source: "the pipeline deploys after a passing stage".to_owned(),
        },
    ];
    // orca's KayentaCanaryStage: intervals start after
    // beginCanaryAnalysisAfterMins; each judges from the analysis start, or
    // the last lookbackMins; the baseline's scope is offset earlier.
    if stage.begin_after > SimDuration::ZERO {
        d.set_analysis(
            format!("delay = \"{}\"", stage.begin_after),
            "beginCanaryAnalysisAfterMins (--begin-after): the first interval starts after it",
        );
    }
    match stage.lookback {
        Some(l) => d.set_analysis(
            format!("window = \"{l}\""),
            "lookbackMins (--lookback): each interval judges the last lookback",
        ),
        None => d.set_analysis(
            "window = \"cumulative\"",
            "no lookbackMins: each interval judges everything since the analysis began",
        ),
    }
    if stage.baseline_offset > SimDuration::ZERO {
        d.set_analysis(
            format!("baseline_offset = \"{}\"", stage.baseline_offset),
            "baselineAnalysisOffsetInMins (--baseline-offset): the baseline's scope is that much earlier",
        );
    }
    let interval = stage.interval.unwrap_or(stage.lifetime);
    d.set_analysis(
        format!("interval = \"{interval}\""),
        if stage.interval.is_some() {
            "the stage's canaryAnalysisIntervalMins (--analysis-interval)"
        } else {
            "no canaryAnalysisIntervalMins: one analysis over the lifetime"
        },
    );
    d.set_analysis(
        "failure_limit = 0",
        "Spinnaker's stage fails at once on an interval not above marginal (MonitorKayentaCanaryTask)",
    );
    d.set_analysis("min_requests = 0", "Kayenta judges the series it is given");
    d.set_analysis("on_failure = \"rollback\"", "a failed canary stage");
    d.set_analysis(
        "on_inconclusive = \"hold\"",
        "no score at all (no Mann-Whitney check could be judged): a human decides",
    );
    // Groups without a weight share what is left of 100 (WeightedSumScorer).
    let sum: f64 = weights.iter().map(|(_, w)| w).sum();
    let unweighted: Vec<&String> = groups_used
        .iter()
        .filter(|g| !weights.iter().any(|(w, _)| w == *g))
        .collect();
    let share = if unweighted.is_empty() {
        0.0
    } else {
        ((100.0 - sum) / unweighted.len() as f64).max(0.0)
    };
    let dead: Vec<(String, f64)> = weights
        .iter()
        .filter(|(g, _)| !groups_used.contains(g))
        .cloned()
        .collect();
    if !dead.is_empty() {
        let lost: f64 = dead.iter().map(|(_, w)| w).sum();
        let names: Vec<&str> = dead.iter().map(|(g, _)| g.as_str()).collect();
        let cap = (100.0 - lost).max(0.0);
        let pass_at = stage.pass.or(pass).unwrap_or(95.0);
        let never = if cap < pass_at {
            format!(": it can never reach pass ({pass_at})")
        } else {
            String::new()
        };
        r.warn(file, cline, "classifier.groupWeights", format!("groups {} have a weight and no metric: Kayenta does not scale the others up, so the score is capped at {cap}{never}", names.join(", ")));
    }
    let mut all: Vec<String> = weights
        .iter()
        .filter(|(g, _)| groups_used.contains(g))
        .map(|(g, w)| format!("{} = {}", quote(g), number(*w)))
        .collect();
    all.extend(unweighted.iter().map(|g| format!("{} = {}", quote(g), number(share))));
    // A weight of a group without metrics stays, so the cap stays.
    all.extend(dead.iter().map(|(g, w)| format!("{} = {}", quote(g), number(*w))));
    let (p, m, why) = match (stage.pass, stage.marginal, pass, marginal) {
        (Some(p), Some(m), _, _) => (p, m, "the run request's scoreThresholds (--pass, --marginal)"),
        (_, _, Some(p), Some(m)) => (
            p,
            m,
            "classifier.scoreThresholds (the judge takes the run request's; aviary uses these unless --pass/--marginal)",
        ),
        _ => (95.0, 75.0, "no scoreThresholds: Spinnaker's defaults"),
    };
    if !checks.is_empty() {
        d.set_analysis(
            format!(
                "score = {{ pass = {}, marginal = {}, fail_at_marginal = true, last_must_pass = true, weights = {{ {} }} }}",
                number(p),
                number(m),
                all.join(", ")
            ),
            format!("{why}; groups without a weight share what is left of 100; a score not above marginal fails an interval and the last interval must pass (orca's MonitorKayentaCanaryTask, AggregateCanaryResultsTask)"),
        );
    }
    d.checks = checks;
    Some(d)
}

fn metric(mut m: Map<'_>, opts: &Options, r: &mut Report) -> Option<(DraftCheck, String)> {
    let file = m.file;
    let name = m.str("name", r).unwrap_or("").to_owned();
    let line = m.line;
    let source = at(file, line, &format!("{} ({name})", m.path));
    let groups: Vec<String> = m
        .seq("groups", r)
        .unwrap_or(&[])
        .iter()
        .filter_map(|n| match &n.value {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    m.ignore(&["scopeName"]);
    let mut texts = vec![name.clone()];
    let mut promql_text = None;
    if let Some(mut q) = m.map("query", r) {
        for key in [
            "metricName",
            "q",
            "select",
            "metricType",
            "customInlineTemplate",
            "query",
        ] {
            if let Some(t) = q.scalar(key, r) {
                if let Some(rest) = t.strip_prefix("PromQL:") {
                    promql_text = Some(rest.to_owned());
                }
                texts.push(t);
            }
        }
        q.ignore(&[
            "type",
            "serviceType",
            "customFilterTemplate",
            "customFilter",
            "labelBindings",
            "groupByFields",
            "resourceType",
            "crossSeriesReducer",
            "perSeriesAligner",
            "queryPairs",
            "aggregationMethod",
            "metricQueryType",
            "metricPrefix",
            "metricFilters",
        ]);
        q.finish(r, "Kayenta");
    }
    let meaning = promql_text
        .as_deref()
        .and_then(|q| promql::recognise(q, &opts.map))
        .or_else(|| texts.iter().find_map(|t| promql::recognise_name(t, &opts.map)));
    let mut conf = m.map("analysisConfigurations", r).or_else(|| m.map("extensions", r));
    let mut canary = conf.as_mut().and_then(|c| c.map("canary", r));
    let mut parts: Vec<String> = Vec::new();
    let mut critical = false;
    let mut muted = false;
    let direction = canary
        .as_mut()
        .and_then(|c| c.str("direction", r).map(str::to_owned))
        .unwrap_or_else(|| "either".to_owned());
    if let Some(c) = canary.as_mut() {
        critical = c.bool("critical", r).unwrap_or(false);
        muted = c.bool("muted", r).unwrap_or(false);
        if let Some(ns) = c.str("nanStrategy", r) {
            parts.push(format!("nan_strategy = {}", quote(ns)));
        }
        if c.bool("mustHaveData", r) == Some(true) {
            parts.push("must_have_data = true".to_owned());
        }
        if let Some(mut e) = c.map("effectSize", r) {
            if let Some(measure) = e.str("measure", r) {
                parts.push(format!(
                    "effect_size = {}",
                    quote(if measure == "cles" { "cles" } else { "mean_ratio" })
                ));
            }
            for (k, ours) in [
                ("allowedIncrease", "allowed_increase"),
                ("allowedDecrease", "allowed_decrease"),
                ("criticalIncrease", "critical_increase"),
                ("criticalDecrease", "critical_decrease"),
            ] {
                if let Some(x) = e.num(k, r) {
                    parts.push(format!("{ours} = {}", number(x)));
                }
            }
            e.finish(r, "Kayenta");
        }
        if let Some(mut o) = c.map("outliers", r) {
            if let Some(s) = o.str("strategy", r) {
                parts.push(format!(
                    "outliers = {}",
                    quote(if s == "remove" { "remove" } else { "keep" })
                ));
            }
            if let Some(f) = o.num("outlierFactor", r) {
                parts.push(format!("outlier_factor = {}", number(f)));
            }
            o.finish(r, "Kayenta");
        }
    }
    if let Some(c) = canary {
        c.finish(r, "Kayenta");
    }
    if let Some(c) = conf {
        c.finish(r, "Kayenta");
    }
    m.finish(r, "Kayenta");
    if muted {
        r.warn(
            file,
            line,
            &format!("metrics ({name})"),
            format!("metric {name:?} is muted: Kayenta leaves it out of the score; so does aviary"),
        );
        return None;
    }
    let group = groups.first().cloned().unwrap_or_else(|| name.clone());
    if groups.len() > 1 {
        r.warn(
            file,
            line,
            &format!("metrics ({name}).groups"),
            format!(
                "metric {name:?} is in groups {}: aviary counts it in the first, {group:?}",
                groups.join(", ")
            ),
        );
    }
    let Some(meaning) = meaning else {
        r.warn(file, line, &format!("metrics ({name}).query"), format!("metric {name:?}: aviary cannot tell what it measures; an always-inconclusive check stands in (map it with --map)"));
        return Some((
            DraftCheck {
                toml: "{ metric = \"error_rate\", judge = \"inconclusive\" }".to_owned(),
                source,
            },
            group,
        ));
    };
    let mut all = vec![
        format!("metric = {}", quote(meaning.metric.name())),
        "judge = \"mann_whitney\"".to_owned(),
        "confidence = 0.98".to_owned(),
        format!("group = {}", quote(&group)),
    ];
    if critical {
        all.push("critical = true".to_owned());
    }
    let dir = if ["increase", "decrease", "either"].contains(&direction.as_str()) {
        direction
    } else {
        "either".to_owned()
    };
    all.push(format!("direction = {}", quote(&dir)));
    all.extend(parts);
    Some((
        DraftCheck {
            toml: format!("{{ {} }}", all.join(", ")),
            source: format!("{source}: {}", meaning.why),
        },
        group,
    ))
}
