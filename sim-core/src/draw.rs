//! Exact binomial draws, written for the engine's workload.
//!
//! A run makes tens of thousands of binomial draws, most of them the
//! conditional binomials of a histogram's multinomial, each with a new
//! `(n, p)`: set-up cost matters as much as the draw. Two exact methods,
//! as in Hörmann (1993), "The generation of binomial random variates",
//! J. Statist. Comput. Simul. 46:
//!
//! - mean `n·min(p, 1−p)` below [`BTRS_FROM`]: inversion by sequential
//!   search from 0, one uniform per draw, its only set-up `(1−p)^n`;
//! - at or above it: BTRS, the transformed rejection with squeeze, two
//!   uniforms per try and about 1.15 tries per draw; its set-up is a few
//!   arithmetic operations and one log-factorial pair.
//!
//! Both draw from the binomial law itself (no normal or Poisson
//! approximation); `p > 1/2` is drawn as `n − Binomial(n, 1 − p)`.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::Distribution;

/// One random draw of a run, as [`log`] records it: what a draw-only
/// replay of the run must draw again (see `bench/drawbound`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    Binomial {
        n: u64,
        p: f64,
    },
    Poisson {
        lambda: f64,
    },
    Beta {
        a: u64,
        b: u64,
    },
    /// A uniform in [0, 1).
    Uniform,
    /// A uniform whole number below the bound.
    Below {
        bound: u64,
    },
    StandardNormal,
    /// A ChaCha stream set up (a slot's, a window's or a run's).
    Stream,
}

/// The draws of the runs on this thread, recorded while [`log::start`] is
/// in force. Built only with the `draw-log` feature (the benchmark's); without
/// it recording compiles to nothing.
#[cfg(feature = "draw-log")]
pub mod log {
    use super::Draw;
    use std::cell::RefCell;

    thread_local! {
        static LOG: RefCell<Option<Vec<Draw>>> = const { RefCell::new(None) };
    }

    /// Records every draw on this thread from now on.
    pub fn start() {
        LOG.with_borrow_mut(|l| *l = Some(Vec::new()));
    }

    /// The draws recorded since [`start`]; recording stops.
    pub fn take() -> Vec<Draw> {
        LOG.with_borrow_mut(Option::take).unwrap_or_default()
    }

    pub(crate) fn note(d: Draw) {
        LOG.with_borrow_mut(|l| {
            if let Some(v) = l {
                v.push(d);
            }
        });
    }
}

#[cfg(feature = "draw-log")]
pub(crate) use log::note;

#[cfg(not(feature = "draw-log"))]
#[inline(always)]
pub(crate) fn note(_: Draw) {}

/// Poisson(lambda), `lambda > 0` and finite.
pub fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u64 {
    note(Draw::Poisson { lambda });
    rand_distr::Poisson::new(lambda)
        .expect("a finite positive rate")
        .sample(rng) as u64
}

/// Beta(a, b) for positive counts.
pub fn beta(rng: &mut ChaCha8Rng, a: u64, b: u64) -> f64 {
    note(Draw::Beta { a, b });
    rand_distr::Beta::new(a as f64, b as f64)
        .expect("Beta parameters are positive counts")
        .sample(rng)
}

/// A uniform in [0, 1).
pub fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    note(Draw::Uniform);
    rng.random()
}

/// A uniform whole number in `0..bound` (`bound > 0`).
pub fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    note(Draw::Below { bound });
    rng.random_range(0..bound)
}

/// A standard normal.
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    note(Draw::StandardNormal);
    rand_distr::StandardNormal.sample(rng)
}

/// Draws `d` again from `rng` (a replay of a recorded run); the value, as
/// a number, so the replay's work cannot be optimised away.
pub fn replay(rng: &mut ChaCha8Rng, d: Draw) -> f64 {
    match d {
        Draw::Binomial { n, p } => binomial(rng, n, p) as f64,
        Draw::Poisson { lambda } => poisson(rng, lambda) as f64,
        Draw::Beta { a, b } => beta(rng, a, b),
        Draw::Uniform => uniform(rng),
        Draw::Below { bound } => below(rng, bound) as f64,
        Draw::StandardNormal => standard_normal(rng),
        Draw::Stream => {
            rng.set_stream(rng.get_stream().wrapping_add(1));
            0.0
        }
    }
}

/// The mean from which BTRS is used (Hörmann's bound for its squeeze).
pub(crate) const BTRS_FROM: f64 = 10.0;

/// Draws Binomial(n, p); exact (see `crate::draw`), with the degenerate
/// cases short-cut.
pub fn binomial(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    note(Draw::Binomial { n, p });
    // A NaN would fall through both short-cuts below; a probability a hair
    // outside 0..=1 is rounding and is clamped by them.
    assert!(!p.is_nan(), "binomial probability is NaN (n = {n})");
    assert!(
        (-1e-9..=1.0 + 1e-9).contains(&p),
        "binomial probability {p} outside 0..=1 (n = {n})"
    );
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    binomial_open(rng, n, p)
}

/// Spreads `n` requests over `items` in proportion to `p(item)` (a
/// multinomial by sequential binomials); `put` gets each item's share.
pub(crate) fn spread<T>(
    rng: &mut ChaCha8Rng,
    n: u64,
    items: &[T],
    p: impl Fn(&T) -> f64,
    mut put: impl FnMut(&T, u64),
) {
    let mut left = n;
    let mut mass: f64 = items.iter().map(&p).sum();
    for (k, item) in items.iter().enumerate() {
        if left == 0 {
            break;
        }
        let pk = p(item);
        let take = if k + 1 == items.len() || mass <= pk {
            left
        } else {
            binomial(rng, left, (pk / mass).clamp(0.0, 1.0))
        };
        put(item, take);
        left -= take;
        mass -= pk;
    }
}

/// Draws Binomial(n, p) for `0 < p < 1`, `n > 0`.
pub(crate) fn binomial_open(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    let (p, flipped) = if p > 0.5 { (1.0 - p, true) } else { (p, false) };
    let k = if n as f64 * p < BTRS_FROM {
        inversion(rng, n, p)
    } else {
        btrs(rng, n, p)
    };
    if flipped { n - k } else { k }
}

/// Sequential search: P(0) = q^n, P(k)/P(k−1) = (n−k+1)/k · p/q.
fn inversion(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    let q = 1.0 - p;
    let s = p / q;
    let a = (n as f64 + 1.0) * s;
    // P(0) = q^n >= 1 − n·p (Bernoulli's inequality): a uniform at or
    // below that bound is a 0 without computing q^n, which most draws of
    // a histogram's unlikely cells are.
    let below_p0 = 1.0 - n as f64 * p;
    let mut p0 = None;
    loop {
        let mut u: f64 = rng.random();
        if u <= below_p0 {
            return 0;
        }
        let mut r = *p0.get_or_insert_with(|| (n as f64 * (-p).ln_1p()).exp());
        let mut k = 0u64;
        // The mean is below 10, so the search stops within a few dozen
        // steps; it restarts only when rounding leaves `u` above the sum
        // of every term (probability below 1e-15).
        while u > r {
            u -= r;
            k += 1;
            if k > n {
                break;
            }
            r *= a / k as f64 - s;
        }
        if k <= n {
            return k;
        }
    }
}

/// Hörmann's BTRS for `p <= 1/2`, `n·p >= 10`.
fn btrs(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    let nf = n as f64;
    let q = 1.0 - p;
    let spq = (nf * p * q).sqrt();
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = nf * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let alpha = (2.83 + 5.1 / b) * spq;
    let m = floor((nf + 1.0) * p);
    // ln(p/q) and ln(m! (n−m)!) only for a try the squeeze does not settle
    // (about half the draws never need them).
    let mut tail = None;
    loop {
        let u: f64 = rng.random::<f64>() - 0.5;
        let v: f64 = rng.random();
        let us = 0.5 - u.abs();
        let k = floor((2.0 * a / us + b) * u + c);
        if k < 0.0 || k > nf {
            continue;
        }
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        let &mut (lpq, h) = tail.get_or_insert_with(|| ((p / q).ln(), ln_factorial(m) + ln_factorial(nf - m)));
        let v = (v * alpha / (a / (us * us) + b)).ln();
        if v <= h - ln_factorial(k) - ln_factorial(nf - k) + (k - m) * lpq {
            return k as u64;
        }
    }
}

/// `x.floor()` for |x| < 2^63 without a call into libm (the build does not
/// assume SSE4.1's rounding instruction); the draws never leave that range
/// (`k` is rejected outside 0..=n).
fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x { t - 1.0 } else { t }
}

/// ln k! for a whole `k >= 0`: Stirling's series about k + 1 plus its
/// correction, exact (to rounding) below 10 from a table and from five
/// terms of the series above, whose next term is below 1e-14 there.
fn ln_factorial(k: f64) -> f64 {
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    (k + 0.5) * (k + 1.0).ln() - (k + 1.0) + HALF_LN_2PI + stirling_tail(k)
}

/// ln k! − ((k + ½) ln(k + 1) − (k + 1) + ½ ln 2π).
fn stirling_tail(k: f64) -> f64 {
    const TABLE: [f64; 10] = [
        0.081_061_466_795_327_26,
        0.041_340_695_955_409_29,
        0.027_677_925_684_998_34,
        0.020_790_672_103_765_09,
        0.016_644_691_189_821_19,
        0.013_876_128_823_070_75,
        0.011_896_709_945_891_77,
        0.010_411_265_261_972_1,
        0.009_255_462_182_712_733,
        0.008_330_563_433_362_87,
    ];
    if k < 10.0 {
        return TABLE[k as usize];
    }
    // 1/(12n) − 1/(360n³) + 1/(1260n⁵) − 1/(1680n⁷) + 1/(1188n⁹), n = k + 1.
    let n = k + 1.0;
    let r = 1.0 / (n * n);
    (1.0 / 12.0 - r * (1.0 / 360.0 - r * (1.0 / 1260.0 - r * (1.0 / 1680.0 - r / 1188.0)))) / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ln_factorial_matches_the_sum_of_logs() {
        let mut exact = 0.0f64;
        for k in 0..2000u32 {
            if k > 0 {
                exact += f64::from(k).ln();
            }
            let got = ln_factorial(f64::from(k));
            assert!(
                (got - exact).abs() <= 1e-12 * exact.max(1.0),
                "k = {k}: {got} vs {exact}"
            );
        }
    }

    /// ln C(n, k) p^k q^(n−k), summed in logs for the reference law.
    fn pmf(n: u64, p: f64, k: u64) -> f64 {
        let (nf, kf) = (n as f64, k as f64);
        (ln_factorial(nf) - ln_factorial(kf) - ln_factorial(nf - kf) + kf * p.ln() + (nf - kf) * (-p).ln_1p()).exp()
    }

    /// Pearson's chi-square of `draws` draws against the binomial pmf, over
    /// cells of expected count ≥ 20 (the tails pooled), for both methods
    /// and both sides of p = 1/2. The threshold is the chi-square's mean
    /// plus 6 standard deviations (sqrt(2·df)); by the Wilson–Hilferty
    /// approximation a false failure has probability below 1e-6 per case.
    #[test]
    fn draws_follow_the_binomial_law() {
        let draws = 200_000u64;
        let cases: [(u64, f64); 10] = [
            (1, 0.3),
            (7, 0.5),
            (40, 0.02),
            (200, 0.049),
            (19, 0.5),
            (21, 0.49),
            (100, 0.1),
            (1_000, 0.3),
            (1_000_000, 0.0005),
            (5_000, 0.93),
        ];
        for (i, &(n, p)) in cases.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + i as u64);
            let mut counts = std::collections::BTreeMap::<u64, u64>::new();
            for _ in 0..draws {
                let k = binomial_open(&mut rng, n, p);
                assert!(k <= n);
                *counts.entry(k).or_default() += 1;
            }
            // Pool k = from..=upto (mean ± 40 sd) into cells of at least
            // 20 expected draws; a short last cell joins the one before.
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            let from = (n as f64 * p - 40.0 * sd - 40.0).max(0.0) as u64;
            let upto = n.min((n as f64 * p + 40.0 * sd + 40.0) as u64);
            let mut cells: Vec<(f64, f64)> = vec![(0.0, 0.0)];
            for k in from..=upto {
                let last = cells.last_mut().expect("never empty");
                if last.0 >= 20.0 {
                    cells.push((0.0, 0.0));
                }
                let last = cells.last_mut().expect("never empty");
                last.0 += pmf(n, p, k) * draws as f64;
                last.1 += *counts.get(&k).unwrap_or(&0) as f64;
            }
            if cells.len() > 1 && cells.last().expect("never empty").0 < 20.0 {
                let (e, o) = cells.pop().expect("never empty");
                let last = cells.last_mut().expect("never empty");
                last.0 += e;
                last.1 += o;
            }
            let seen: f64 = cells.iter().map(|c| c.1).sum();
            assert_eq!(seen, draws as f64, "case {i}: a draw outside mean ± 40 sd");
            let chi2: f64 = cells.iter().map(|&(e, o)| (o - e).powi(2) / e).sum();
            let df = cells.len() as i64;
            let df = (df - 1).max(1) as f64;
            let limit = df + 6.0 * (2.0 * df).sqrt();
            assert!(
                chi2 < limit,
                "case {i} (n = {n}, p = {p}): chi2 = {chi2:.1} over {df} df (limit {limit:.1})"
            );
        }
    }
}
