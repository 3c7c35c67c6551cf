//! The timeline plot of one run: the candidate's traffic weight, and the
//! deciding check's canary and baseline values at each analysis, with the
//! fault's onset (ground truth) and the decision marked.

use std::io::Write;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use sim_core::engine::Event;
use sim_core::model::{Bounds, Check, Metric, Rule};
use sim_core::score::RunResult;
use sim_core::time::SimTime;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`),
/// embedded so the plot renders the same on any machine.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn minutes(t: SimTime) -> f64 {
    t.as_secs_f64() / 60.0
}

/// The plot's size in pixels (SVG user units).
const SIZE: (u32, u32) = (1200, 700);

/// The image format of a plot, from its file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    /// `.png` or `.svg` (any case).
    ///
    /// # Errors
    /// Any other extension, or none.
    pub fn of(path: &Path) -> Result<PlotFormat, String> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(PlotFormat::Png),
            Some("svg") => Ok(PlotFormat::Svg),
            _ => Err(format!(
                "cannot plot to {}: the file name must end in .png or .svg",
                path.display()
            )),
        }
    }
}

/// A picture drawn by one function on any plotters backend, so its PNG and
/// its SVG are the same drawing.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, plotters::coord::Shift>) -> Drawn
    where
        DB::ErrorType: 'static;
}

pub(crate) type Drawn = Result<(), Box<dyn std::error::Error>>;

/// `figure` as `format`, `size` pixels (SVG user units), drawn in memory
/// with the embedded font: a PNG, or an SVG that carries the font
/// ([`embed_font`]).
pub(crate) fn render(figure: &impl Figure, size: (u32, u32), format: PlotFormat) -> Result<Vec<u8>, String> {
    register()?;
    match format {
        PlotFormat::Png => {
            let (w, h) = size;
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            figure
                .draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area())
                .map_err(|e| format!("cannot draw: {e}"))?;
            encode_png(&rgb, size).map_err(|e| format!("cannot encode: {e}"))
        }
        PlotFormat::Svg => {
            let mut svg = String::new();
            figure
                .draw(SVGBackend::with_string(&mut svg, size).into_drawing_area())
                .map_err(|e| format!("cannot draw: {e}"))?;
            Ok(embed_font(&svg).into_bytes())
        }
    }
}

/// One run's timeline, as [`timeline`] draws it.
struct Timeline<'a> {
    r: &'a RunResult,
    events: &'a [(SimTime, Event)],
    horizon: SimTime,
    checks: &'a [Check],
}

impl Figure for Timeline<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, plotters::coord::Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        draw(root, self.r, self.events, self.horizon, self.checks)
    }
}

/// The family name SVG text uses for the embedded font.
const SVG_FAMILY: &str = "aviary-dejavu-sans";

/// Makes an SVG drawn by plotters self-contained: the embedded font goes
/// into the file as a `@font-face` data URL and every text uses it, so the
/// picture looks the same in any viewer, with or without the font
/// installed. Deterministic: the same SVG in, the same bytes out.
pub(crate) fn embed_font(svg: &str) -> String {
    use base64::Engine as _;
    static FACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let face = FACE.get_or_init(|| {
        format!(
            "<defs><style>@font-face{{font-family:\"{SVG_FAMILY}\";src:url(data:font/ttf;base64,{}) format(\"truetype\")}}</style></defs>",
            base64::engine::general_purpose::STANDARD.encode(FONT)
        )
    });
    let text = svg.replace("font-family=\"sans-serif\"", &format!("font-family=\"{SVG_FAMILY}\""));
    // After the opening tag of the root element.
    match text
        .find("<svg")
        .and_then(|at| text[at..].find('>').map(|end| at + end + 1))
    {
        Some(at) => format!("{}\n{face}{}", &text[..at], &text[at..]),
        None => text,
    }
}

/// Registers the embedded font as "sans-serif".
pub(crate) fn register() -> Result<(), String> {
    register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| "cannot load the embedded font".to_owned())
}

/// Writes the timeline at `path`, as SVG for a name ending in `.svg` and as
/// PNG otherwise ([`PlotFormat::of`]).
///
/// The image is drawn in memory, written to a new temporary file beside
/// `path` (a hidden name no other file has, created exclusively, so no file
/// of the user's is touched) and renamed onto `path`. On any failure the
/// temporary file is removed: `path` is either the whole new plot or as it
/// was.
///
/// # Errors
/// A message for a person: a bad extension, a folder that does not exist,
/// a file that cannot be written.
pub fn timeline(
    path: &Path,
    r: &RunResult,
    events: &[(SimTime, Event)],
    horizon: SimTime,
    checks: &[Check],
) -> Result<(), String> {
    let format = PlotFormat::of(path)?;
    let figure = Timeline {
        r,
        events,
        horizon,
        checks,
    };
    let bytes = render(&figure, SIZE, format).map_err(|e| format!("{e} (the plot for {})", path.display()))?;
    write_beside(path, &bytes)
}

pub(crate) fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Adaptive filtering: flat colours and lines compress to about half.
    encoder.set_filter(png::FilterType::Sub);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file beside it (see
/// [`timeline`]).
pub(crate) fn write_beside(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let shown = path.display();
    let Some(name) = path.file_name() else {
        return Err(format!("cannot plot to {shown}: not a file name"));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let why = |e: &std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => format!("cannot plot to {shown}: the folder {} does not exist", dir.display()),
        std::io::ErrorKind::PermissionDenied => format!("cannot plot to {shown}: permission denied"),
        // Found only by the rename, after the temporary file was written.
        std::io::ErrorKind::IsADirectory | std::io::ErrorKind::DirectoryNotEmpty => {
            format!("cannot plot to {shown}: it is a folder")
        }
        _ => format!("cannot plot to {shown}: {e}"),
    };
    let (tmp, mut file) = temporary_beside(dir, name).map_err(|e| why(&e))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| {
        drop(file);
        std::fs::rename(&tmp, path)
    });
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        why(&e)
    })
}

/// A new file in `dir` named after `name` that did not exist before:
/// `.NAME.PID-N.tmp`, created exclusively.
fn temporary_beside(dir: &Path, name: &std::ffi::OsStr) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let name = name.to_string_lossy();
    let pid = std::process::id();
    let mut n = 0u32;
    loop {
        let tmp = dir.join(format!(".{name}.{pid}-{n}.tmp"));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// A metric as an axis names it, and the factor that turns its values into
/// the axis's unit (rates in percent).
fn axis(m: Metric) -> (&'static str, f64) {
    match m {
        Metric::ErrorRate => ("error rate (%)", 100.0),
        Metric::LatencyP50 => ("p50 latency (ms)", 1.0),
        Metric::LatencyP95 => ("p95 latency (ms)", 1.0),
        Metric::LatencyP99 => ("p99 latency (ms)", 1.0),
        Metric::ConversionRate => ("conversion rate (%)", 100.0),
        Metric::ThroughputRatio => ("completed / routed (%)", 100.0),
        Metric::CpuUtilisation => ("CPU utilisation (%)", 100.0),
        Metric::MemoryUtilisation => ("memory / limit (%)", 100.0),
        Metric::Restarts => ("restarts", 1.0),
        Metric::BackfillLagRows => ("backfill lag (rows)", 1.0),
        Metric::DuplicateWrites => ("duplicate writes", 1.0),
        Metric::ConstraintViolations => ("constraint violations", 1.0),
        other => (other.name(), 1.0),
    }
}

/// The canary's failing line for `bounds` at a baseline value `b` (the
/// tightest upper bound), in the metric's own unit.
fn upper_limit(bounds: &Bounds, b: Option<f64>) -> Option<f64> {
    let mut limits = Vec::new();
    limits.extend(bounds.max);
    if let Some(b) = b {
        limits.extend(bounds.max_increase.map(|d| b + d));
        limits.extend(bounds.max_ratio.map(|k| b * k));
    }
    limits.into_iter().reduce(f64::min)
}

/// The minutes the plot shows: from two minutes before the rollout to five
/// after it ended (promoted, mitigated or decided), within the horizon.
fn window(r: &RunResult, horizon: SimTime) -> (f64, f64) {
    let end = minutes(horizon);
    let Some(start) = r.rollout_started_at else {
        return (0.0, end);
    };
    let last = [r.promoted_at, r.mitigated_at, r.decision().map(|d| d.at)]
        .into_iter()
        .flatten()
        .max();
    let from = (minutes(start) - 2.0).max(0.0);
    let to = last.map_or(end, |t| (minutes(t) + 5.0).min(end));
    if to > from { (from, to) } else { (0.0, end) }
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    r: &RunResult,
    events: &[(SimTime, Event)],
    horizon: SimTime,
    checks: &[Check],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
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
    let (from, end) = window(r, horizon);

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
        .build_cartesian_2d(from..end, 0.0..105.0)?;
    chart
        .configure_mesh()
        .x_desc("minutes since the run started")
        .y_desc("candidate weight (%)")
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
    let mut limit = Vec::new();
    let mut metric = None;
    let wanted = r.decision().and_then(|d| d.metric);
    for (t, e) in events {
        if let Event::Analysis { measurements } = e
            && let Some(m) = measurements
                .iter()
                .find(|m| Some(m.metric) == wanted)
                .or_else(|| measurements.first())
        {
            metric = Some(m.metric);
            let scale = axis(m.metric).1;
            if let Some(v) = m.candidate {
                canary.push((minutes(*t), v * scale));
            }
            if let Some(v) = m.stable {
                baseline.push((minutes(*t), v * scale));
            }
            let bounds = checks
                .iter()
                .find(|c| c.metric == m.metric)
                .and_then(|c| match &c.rule {
                    Rule::Bounds(b) => Some(b),
                    Rule::Judge(_) | Rule::Unmapped => None,
                });
            if let Some(l) = bounds.and_then(|b| upper_limit(b, m.stable)) {
                limit.push((minutes(*t), l * scale));
            }
        }
    }
    let top_value = canary
        .iter()
        .chain(&baseline)
        .chain(&limit)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let label = metric.map_or("no analysis", |m| axis(m).0);
    let mut chart = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(60)
        .build_cartesian_2d(from..end, 0.0..top_value)?;
    chart
        .configure_mesh()
        .x_desc("minutes since the run started")
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
    if !limit.is_empty() {
        let orange = RGBColor(230, 140, 0);
        chart
            .draw_series(DashedLineSeries::new(limit, 6, 4, orange.stroke_width(2)))?
            .label("the check's limit for the canary")
            .legend(legend(orange));
    }
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
    if let Some(d) = r.decision() {
        let x = minutes(d.at);
        chart
            .draw_series(LineSeries::new(vec![(x, 0.0), (x, top)], BLACK.stroke_width(2)))?
            .label(format!("decision: {}", d.action.name()))
            .legend(legend(BLACK));
    }
    Ok(())
}
