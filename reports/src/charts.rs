//! The tuning workflow's pictures, each drawn in memory twice from one
//! drawing function: as PNG with the embedded font, and as SVG with the
//! same font embedded in the file (the same bytes on any machine): the
//! Pareto front of a sweep, a heatmap of a score over two varied keys, and
//! distributions (CDFs) per policy.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{Drawn, Figure, PlotFormat, render as render_as};

const SIZE: (u32, u32) = (1000, 650);

/// One picture in both formats.
#[derive(Clone, Debug)]
pub struct Picture {
    pub png: Vec<u8>,
    /// Self-contained: the font is inside the file.
    pub svg: Vec<u8>,
}

fn render(figure: &impl Figure) -> Result<Picture, String> {
    Ok(Picture {
        png: render_as(figure, SIZE, PlotFormat::Png)?,
        svg: render_as(figure, SIZE, PlotFormat::Svg)?,
    })
}

/// One point of the Pareto scatter.
pub struct Point {
    pub label: String,
    pub false_alarm_pct: f64,
    pub failed_requests: f64,
    pub on_front: bool,
    pub winner: bool,
}

/// Failed requests per run against the false-alarm rate, one point per
/// cell; the front in blue, the winner in red, the rest grey.
pub fn pareto(points: &[Point]) -> Result<Picture, String> {
    render(&Pareto(points))
}

struct Pareto<'a>(&'a [Point]);

impl Figure for Pareto<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let points = self.0;
        root.fill(&WHITE)?;
        let x_max = points.iter().map(|p| p.false_alarm_pct).fold(1.0, f64::max) * 1.15;
        let y_max = points.iter().map(|p| p.failed_requests).fold(1.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption("Sweep: blast radius against false alarms", ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        chart
            .configure_mesh()
            .x_desc("false-alarm rate on the healthy scenarios (%)")
            .y_desc("failed requests per faulty run (mean)")
            .label_style(("sans-serif", 16))
            .draw()?;
        let mut front: Vec<&Point> = points.iter().filter(|p| p.on_front).collect();
        front.sort_by(|a, b| a.false_alarm_pct.total_cmp(&b.false_alarm_pct));
        chart.draw_series(LineSeries::new(
            front.iter().map(|p| (p.false_alarm_pct, p.failed_requests)),
            BLUE.mix(0.4).stroke_width(2),
        ))?;
        for p in points {
            let colour = match (p.winner, p.on_front) {
                (true, _) => RED,
                (false, true) => BLUE,
                (false, false) => RGBColor(150, 150, 150),
            };
            let at = (p.false_alarm_pct, p.failed_requests);
            chart.draw_series(std::iter::once(Circle::new(
                at,
                if p.winner { 9 } else { 6 },
                colour.filled(),
            )))?;
            // The label beside the point, not under it.
            chart.draw_series(std::iter::once(
                EmptyElement::at(at)
                    + Text::new(p.label.clone(), (10, -18), ("sans-serif", 15).into_font().color(&BLACK)),
            ))?;
        }
        root.present()?;
        Ok(())
    }
}

/// A score over two varied keys: `values[row][col]`, `None` where
/// undefined; darker is higher.
pub fn heatmap(
    title: &str,
    rows: (&str, &[String]),
    cols: (&str, &[String]),
    values: &[Vec<Option<f64>>],
    show: impl Fn(f64) -> String,
) -> Result<Picture, String> {
    render(&Heatmap {
        title,
        rows,
        cols,
        values,
        show: &show,
    })
}

struct Heatmap<'a> {
    title: &'a str,
    rows: (&'a str, &'a [String]),
    cols: (&'a str, &'a [String]),
    values: &'a [Vec<Option<f64>>],
    show: &'a dyn Fn(f64) -> String,
}

impl Figure for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let Heatmap {
            title,
            rows,
            cols,
            values,
            show,
        } = *self;
        root.fill(&WHITE)?;
        let (nr, nc) = (rows.1.len(), cols.1.len());
        let finite: Vec<f64> = values.iter().flatten().flatten().copied().collect();
        let (lo, hi) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(120)
            // A segmented 0..n holds n + 1 segments: the last index is n − 1.
            .build_cartesian_2d(
                (0..nc.saturating_sub(1)).into_segmented(),
                (0..nr.saturating_sub(1)).into_segmented(),
            )?;
        let (col_labels, row_labels) = (cols.1.to_vec(), rows.1.to_vec());
        let name = |labels: &[String], v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(cols.0)
            .y_desc(rows.0)
            .x_labels(nc + 1)
            .y_labels(nr + 1)
            .x_label_formatter(&|v| name(&col_labels, v))
            .y_label_formatter(&|v| name(&row_labels, v))
            .label_style(("sans-serif", 16))
            .draw()?;
        for (r, row) in values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let t = match v {
                    Some(v) if hi > lo => (v - lo) / (hi - lo),
                    Some(_) => 0.5,
                    None => 0.0,
                };
                let shade = (235.0 - 180.0 * t) as u8;
                let fill = if v.is_some() {
                    RGBColor(shade, shade, 255)
                } else {
                    RGBColor(240, 240, 240)
                };
                let corner = |c: usize, r: usize| (SegmentValue::Exact(c), SegmentValue::Exact(r));
                chart.draw_series(std::iter::once(Rectangle::new(
                    [corner(c, r), corner(c + 1, r + 1)],
                    fill.filled(),
                )))?;
                let text = v.map_or("—".to_owned(), show);
                let ink = if t > 0.6 { WHITE } else { BLACK };
                let centre = plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                );
                chart.draw_series(std::iter::once(Text::new(
                    text,
                    (SegmentValue::CenterOf(c), SegmentValue::CenterOf(r)),
                    ("sans-serif", 22).into_font().color(&ink).pos(centre),
                )))?;
            }
        }
        root.present()?;
        Ok(())
    }
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// Empirical CDFs, one line per series; `log_x` plots log10(1 + x) ticks
/// labelled in x (for counts spanning decades).
pub fn cdf(title: &str, x_desc: &str, series: &[(String, Vec<f64>)], log_x: bool) -> Result<Picture, String> {
    render(&Cdf {
        title,
        x_desc,
        series,
        log_x,
    })
}

struct Cdf<'a> {
    title: &'a str,
    x_desc: &'a str,
    series: &'a [(String, Vec<f64>)],
    log_x: bool,
}

impl Figure for Cdf<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let Cdf {
            title,
            x_desc,
            series,
            log_x,
        } = *self;
        root.fill(&WHITE)?;
        let tx = |x: f64| if log_x { (1.0 + x.max(0.0)).log10() } else { x };
        let x_max = series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .map(tx)
            .fold(0.0, f64::max)
            .max(if log_x { 1.0 } else { 1e-9 })
            * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..1.0)?;
        let label = |v: &f64| {
            if log_x {
                format!("{:.0}", 10f64.powf(*v) - 1.0)
            } else {
                crate::span(*v)
            }
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("share of runs at or below")
            .x_label_formatter(&label)
            .label_style(("sans-serif", 16))
            .draw()?;
        for (k, (name, values)) in series.iter().enumerate() {
            let mut v: Vec<f64> = values.iter().copied().map(tx).collect();
            v.sort_by(f64::total_cmp);
            let n = v.len().max(1) as f64;
            let colour = PALETTE[k % PALETTE.len()];
            let steps: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .flat_map(|(i, &x)| [(x, i as f64 / n), (x, (i + 1) as f64 / n)])
                .chain(std::iter::once((x_max, 1.0)))
                .collect();
            chart
                .draw_series(LineSeries::new(steps, colour.stroke_width(2)))?
                .label(format!("{name} ({} runs)", values.len()))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        root.present()?;
        Ok(())
    }
}
