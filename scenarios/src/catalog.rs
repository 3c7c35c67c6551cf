//! The built-in catalog: scenario and policy files embedded in the binary.
//! The same files live under `scenarios/catalog/` in the source tree.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub text: &'static str,
}

impl Builtin {
    /// How diagnostics and `show` name the file.
    pub fn label(&self) -> String {
        format!("<built-in>/{}.toml", self.name)
    }
}

macro_rules! builtins {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(Builtin { name: $name, text: include_str!(concat!("../catalog/", $dir, "/", $name, ".toml")) }),*]
    };
}

/// Built-in scenarios, in catalog order.
pub const SCENARIOS: &[Builtin] = builtins!("scenarios":
    "healthy-release",
    "checkout-error-spike",
    "p99-latency-regression",
    "sre-canary-20pct-errors",
    "optional-api-field-flag",
    "enum-change-queued",
    "too-fast-promotion-leak",
    "silent-empty-search-results",
    "stateful-session-format",
    "small-user-base",
    "shared-database-overload",
    "upstream-incident-healthy",
    "throughput-deadlock",
    "healthy-diurnal-flash-sale",
    "orders-rename-200m",
    "orders-rename-no-expand",
    "customer-type-required",
    "enum-pending-queued",
    "migration-contract-too-early",
    "migration-rollback-after-contract",
    "simpy-peer",
);

/// Built-in policy presets; `default` first.
pub const POLICIES: &[Builtin] = builtins!("policies":
    "default",
    "five-percent-canary",
    "fast-promotion",
    "canary-replicas",
    "canary-sticky",
    "big-bang",
    "rolling",
    "blue-green",
    "flag-rollout",
    "saturation-watch",
    "kpi-guard",
    "absolute-slo",
    "throughput-guard",
    "hotfix-on-latency",
    "page-on-call",
    "expand-contract-safe",
    "expand-contract-hasty",
    "rename-in-place",
    "kayenta-like",
    "sequential",
    "cusum",
    "z-test-peeking",
    "simpy-peer",
);

pub fn scenario(name: &str) -> Option<&'static Builtin> {
    SCENARIOS.iter().find(|b| b.name == name)
}

pub fn policy(name: &str) -> Option<&'static Builtin> {
    POLICIES.iter().find(|b| b.name == name)
}
