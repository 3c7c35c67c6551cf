//! Statistical canary judges: pure functions from observations to verdicts.
//!
//! - [`mann_whitney`]: Kayenta's NetflixACAJudge metric classifier (a
//!   Mann-Whitney / Hodges-Lehmann shift interval compared with a tolerance
//!   band) and its outlier and missing-value preprocessing.
//! - [`scorer`]: Kayenta's weighted-sum scorer, turning metric
//!   classifications into a 0–100 score and a pass / marginal / fail verdict.
//! - [`control_charts`]: tabular CUSUM, EWMA and Shewhart charts on
//!   standardised statistics, and Wald's sequential probability ratio test.
//! - [`sequential`]: the anytime-valid Dirichlet-multinomial Bayes factor of
//!   Lindon and Malek (2022) for canary versus control event counts.
//! - [`naive`]: fixed-horizon z and Welch t tests, kept to show what repeated
//!   looks ("peeking") do to their error rates.
//!
//! Nothing here reads a clock, the environment or a file; every function is
//! deterministic in its arguments.

pub mod control_charts;
pub mod mann_whitney;
pub mod naive;
pub mod scorer;
pub mod sequential;
