//! aviary's engine: a deterministic discrete-event simulator of a service
//! under a release policy.
//!
//! `sim-core` does no I/O, reads no clock and no environment, and never
//! iterates a hash map. Files live in the `scenarios` crate, output in
//! `reports`, people in `cli`.
//!
//! Entry points: [`engine::run`] for one run, [`batch::run_batch`] and
//! [`batch::summarise`] for many.

// A `_ =>` arm over the crate's own enums would let a new variant compile
// into a silent default: every match lists its variants.
#![deny(clippy::wildcard_enum_match_arm)]

pub mod batch;
pub mod check;
pub mod command;
pub mod compare;
pub mod control;
pub mod draw;
pub mod engine;
pub mod fleet;
pub mod gameday;
pub mod judges;
pub mod latency;
pub mod ledger;
pub mod limits;
pub mod model;
pub mod monitoring;
pub mod preflight;
pub mod retro;
pub mod rng;
pub mod score;
pub mod stats;
pub mod sweep;
pub mod time;
pub mod timeline;
pub mod traffic;
pub mod world;
