//! The timeline plot of one run: the candidate's traffic weight, and the
//! deciding check's canary and baseline values at each analysis, with the
//! fault's onset (ground truth) and the decision marked.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use sim_core::engine::Event;
use sim_core::score::RunResult;
use sim_core::time::SimTime;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`),
/// embedded so the plot renders the same on any machine.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn minutes(t: SimTime) -> f64 {
    t.as_secs_f64() / 60.0
}

/// Writes the timeline as a PNG at `path` (via a temporary file, so a
/// failure leaves nothing half-written).
///
/// # Errors
/// The font cannot be loaded or the file cannot be written.
pub fn timeline_png(path: &Path, r: &RunResult, events: &[(SimTime, Event)], horizon: SimTime) -> Result<(), String> {
    register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| "cannot load the embedded font".to_owned())?;
    let tmp = path.with_extension("partial.png");
    draw(&tmp, r, events, horizon).map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn draw(
    path: &Path,
    r: &RunResult,
    events: &[(SimTime, Event)],
    horizon: SimTime,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1200, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{} × {}   seed {} run {}   {}",
        r.scenario,
        r.policy,
        r.seed,
        r.run,
        r.outcome.name()
    );
    let root = root.titled(&title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(300);
    let end = minutes(horizon);

    // Weight: a step function from the weight and flag events.
    let mut weight = vec![(0.0, 0.0)];
    for (t, e) in events {
        let w = match e {
            Event::WeightSet { weight, .. } => *weight,
            Event::FlagSet { percent } => *percent,
            _ => continue,
        };
        let last = weight.last().expect("starts with a point").1;
        weight.push((minutes(*t), last));
        weight.push((minutes(*t), f64::from(w)));
    }
    weight.push((end, weight.last().expect("non-empty").1));
    let mut chart = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..105.0)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("candidate weight %")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(weight, BLUE.stroke_width(2)))?
        .label("candidate weight")
        .legend(legend(BLUE));
    marks(&mut chart, r, 105.0)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;

    // The deciding check's canary and baseline at each analysis (the
    // first check's when nothing was decided).
    let mut canary = Vec::new();
    let mut baseline = Vec::new();
    let mut metric = None;
    let wanted = r.decision.and_then(|d| d.metric);
    for (t, e) in events {
        if let Event::Analysis { measurements } = e
            && let Some(m) = measurements
                .iter()
                .find(|m| Some(m.metric) == wanted)
                .or_else(|| measurements.first())
        {
            metric = Some(m.metric);
            if let Some(v) = m.candidate {
                canary.push((minutes(*t), v));
            }
            if let Some(v) = m.stable {
                baseline.push((minutes(*t), v));
            }
        }
    }
    let top_value = canary
        .iter()
        .chain(&baseline)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let label = metric.map_or("no analysis", |m| m.name());
    let mut chart = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..top_value)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc(label)
        .label_style(("sans-serif", 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(baseline, GREEN.stroke_width(2)))?
        .label("baseline")
        .legend(legend(GREEN));
    chart
        .draw_series(LineSeries::new(canary, RED.stroke_width(2)))?
        .label("canary")
        .legend(legend(RED));
    marks(&mut chart, r, top_value)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

/// A legend entry: a short line in the series' colour.
fn legend(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
}

/// Vertical lines: fault onset (ground truth, dashed magenta) and decision (black).
fn marks<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    r: &RunResult,
    top: f64,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    if let Some(t) = r.fault_onset {
        let x = minutes(t);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x, 0.0), (x, top)],
                6,
                4,
                MAGENTA.stroke_width(2),
            ))?
            .label("fault onset (ground truth)")
            .legend(legend(MAGENTA));
    }
    if let Some(d) = r.decision {
        let x = minutes(d.at);
        chart
            .draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], BLACK.stroke_width(2)))?
            .label(format!("decision: {}", d.action.name()))
            .legend(legend(BLACK));
    }
    Ok(())
}
