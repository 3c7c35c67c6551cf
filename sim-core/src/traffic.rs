//! The arrival rate over time, integrated exactly over a chunk.

use crate::model::{Shape, Traffic};
use crate::time::SimTime;

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

/// Expected arrivals in `[from, to)` (before spikes), by the exact integral
/// of the shape.
pub fn expected_arrivals(traffic: &Traffic, from: SimTime, to: SimTime) -> f64 {
    let (a, b) = (secs(from), secs(to));
    if b <= a {
        return 0.0;
    }
    match &traffic.shape {
        Shape::Constant => traffic.rps * (b - a),
        Shape::Diurnal {
            amplitude,
            period,
            peak_at,
        } => {
            let p = period.as_secs_f64();
            let w = 2.0 * std::f64::consts::PI / p;
            let peak = peak_at.as_secs_f64();
            let sin = |t: f64| libm::sin(w * (t - peak));
            traffic.rps * ((b - a) + amplitude / w * (sin(b) - sin(a)))
        }
        Shape::Series { points } => series_integral(points, a, b),
    }
}

/// The rate at `t` (before spikes).
pub fn rate_at(traffic: &Traffic, t: SimTime) -> f64 {
    let x = secs(t);
    match &traffic.shape {
        Shape::Constant => traffic.rps,
        Shape::Diurnal {
            amplitude,
            period,
            peak_at,
        } => {
            let w = 2.0 * std::f64::consts::PI / period.as_secs_f64();
            traffic.rps * (1.0 + amplitude * libm::cos(w * (x - peak_at.as_secs_f64())))
        }
        Shape::Series { points } => series_rate(points, x),
    }
}

/// The spike multiplier in force at `t` (spikes multiply when they overlap).
pub fn spike_factor(traffic: &Traffic, t: SimTime) -> f64 {
    traffic
        .spikes
        .iter()
        .filter(|s| t >= SimTime::ZERO + s.at && t < SimTime::ZERO + s.at + s.duration)
        .map(|s| s.factor)
        .product()
}

fn series_rate(points: &[(crate::time::SimDuration, f64)], x: f64) -> f64 {
    let Some(first) = points.first() else { return 0.0 };
    if x <= first.0.as_secs_f64() {
        return first.1;
    }
    // The first point at or after x (binary search: a replayed series has
    // up to a million points and this runs for every chunk).
    let i = points.partition_point(|p| p.0.as_secs_f64() < x);
    let Some(&(t1, r1)) = points.get(i) else {
        return points.last().map_or(0.0, |p| p.1);
    };
    let (t0, r0) = (points[i - 1].0.as_secs_f64(), points[i - 1].1);
    let t1 = t1.as_secs_f64();
    if t1 > t0 {
        r0 + (r1 - r0) * (x - t0) / (t1 - t0)
    } else {
        r1
    }
}

/// ∫ rate over `[a, b]` for the piecewise-linear series (flat outside it).
/// Costs O(log n + k) for k breakpoints inside, so a run over a series
/// costs O(n) in all, whatever its chunks.
fn series_integral(points: &[(crate::time::SimDuration, f64)], a: f64, b: f64) -> f64 {
    // Breakpoints inside (a, b) split the integral into linear pieces, each
    // integrated exactly by the trapezoid rule.
    let from = points.partition_point(|p| p.0.as_secs_f64() <= a);
    let inside = points[from..].iter().map(|p| p.0.as_secs_f64()).take_while(|&t| t < b);
    let mut total = 0.0;
    let mut x0 = a;
    let mut r0 = series_rate(points, a);
    for x1 in inside.chain(std::iter::once(b)) {
        let r1 = series_rate(points, x1);
        total += 0.5 * (r0 + r1) * (x1 - x0);
        (x0, r0) = (x1, r1);
    }
    total
}

/// Expected arrivals over `[from, to)` with the spikes' factors, the
/// interval split at every spike boundary inside it.
pub fn expected_between(traffic: &Traffic, from: SimTime, to: SimTime) -> f64 {
    if traffic.spikes.is_empty() {
        return expected_arrivals(traffic, from, to);
    }
    // Walk the spike edges inside the interval in time order (no
    // allocation: this runs for every chunk of a spiky scenario).
    let edges = |s: &crate::model::Spike| [SimTime::ZERO + s.at, SimTime::ZERO + s.at + s.duration];
    let mut total = 0.0;
    let mut a = from;
    while a < to {
        let b = traffic
            .spikes
            .iter()
            .flat_map(edges)
            .filter(|t| *t > a && *t < to)
            .min()
            .unwrap_or(to);
        total += expected_arrivals(traffic, a, b) * spike_factor(traffic, a);
        a = b;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Spike;
    use crate::time::SimDuration;

    fn traffic(shape: Shape) -> Traffic {
        Traffic {
            rps: 100.0,
            users: 10,
            shape,
            spikes: vec![],
            session_requests: 10.0,
        }
    }

    #[test]
    fn constant_rate_integrates_to_rate_times_span() {
        let t = traffic(Shape::Constant);
        assert_eq!(expected_arrivals(&t, SimTime(1000), SimTime(11_000)), 1000.0);
    }

    #[test]
    fn a_whole_diurnal_period_integrates_to_the_mean() {
        let day = SimDuration::from_secs(86_400);
        let t = traffic(Shape::Diurnal {
            amplitude: 0.5,
            period: day,
            peak_at: SimDuration::from_secs(50_400),
        });
        let total = expected_arrivals(&t, SimTime::ZERO, SimTime::ZERO + day);
        assert!((total - 100.0 * 86_400.0).abs() < 1e-6 * total);
        assert!((rate_at(&t, SimTime(50_400_000)) - 150.0).abs() < 1e-9, "peak");
        assert!(
            (rate_at(&t, SimTime(7_200_000)) - 50.0).abs() < 1e-9,
            "trough 12 h from the peak"
        );
    }

    #[test]
    fn series_is_linear_between_points_and_flat_outside() {
        let pts = vec![(SimDuration::from_secs(10), 100.0), (SimDuration::from_secs(20), 300.0)];
        let t = traffic(Shape::Series { points: pts });
        assert_eq!(rate_at(&t, SimTime(0)), 100.0);
        assert_eq!(rate_at(&t, SimTime(15_000)), 200.0);
        assert_eq!(rate_at(&t, SimTime(99_000)), 300.0);
        // 0..10 s at 100, 10..20 s ramp (mean 200), 20..30 s at 300.
        assert!((expected_arrivals(&t, SimTime(0), SimTime(30_000)) - 6000.0).abs() < 1e-9);
    }

    /// A replayed CSV of 10^5 rows took 45 s to run and 10^6 did not
    /// finish: every chunk scanned the whole series. Integrating a long
    /// series chunk by chunk must cost about the series' length in all; a
    /// million points over 2 000 chunks finishes at once, and the pieces add
    /// up to the whole.
    #[test]
    fn a_million_point_series_integrates_in_linear_time() {
        let pts: Vec<(SimDuration, f64)> = (0..1_000_000u64)
            .map(|i| (SimDuration(i * 10), 100.0 + (i % 7) as f64))
            .collect();
        let t = traffic(Shape::Series { points: pts });
        let end = 10_000_000u64;
        let whole = expected_arrivals(&t, SimTime(0), SimTime(end));
        let step = end / 2_000;
        let pieces: f64 = (0..2_000u64)
            .map(|k| expected_arrivals(&t, SimTime(k * step), SimTime((k + 1) * step)))
            .sum();
        assert!((whole - pieces).abs() < 1e-6 * whole, "{whole} vs {pieces}");
        assert!((rate_at(&t, SimTime(15)) - 101.5).abs() < 1e-9);
    }

    #[test]
    fn spikes_multiply_inside_their_window() {
        let mut t = traffic(Shape::Constant);
        t.spikes.push(Spike {
            at: SimDuration::from_secs(60),
            duration: SimDuration::from_secs(60),
            factor: 3.0,
        });
        assert_eq!(spike_factor(&t, SimTime(59_999)), 1.0);
        assert_eq!(spike_factor(&t, SimTime(60_000)), 3.0);
        assert_eq!(spike_factor(&t, SimTime(120_000)), 1.0);
    }
}
