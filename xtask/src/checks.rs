//! The scenarios `cargo xtask qemu-test` boots, and what each serial log
//! must show. The user programs print evidence lines; the checks here
//! re-derive the properties from that evidence rather than trusting a
//! program's own verdict.

/// A scenario: the kernel command line names it (`scenario=NAME`).
pub struct Scenario {
    /// Name passed to the kernel.
    pub name: &'static str,
    /// Whether QEMU must exit with the failure status (kernel panic tests).
    pub expect_failure_exit: bool,
    /// Returns the problems found in the log (empty: pass).
    pub check: fn(&[String]) -> Vec<String>,
}

/// The scenario `cargo xtask qemu` boots without an argument.
pub const DEFAULT_SCENARIO: &str = "boot";

/// Every scenario, in the order `qemu-test` runs them.
pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "boot", expect_failure_exit: false, check: check_boot },
    Scenario { name: "kernel-fault", expect_failure_exit: true, check: check_kernel_fault },
];

fn require(log: &[String], needle: &str, problems: &mut Vec<String>) {
    if !log.iter().any(|line| line.contains(needle)) {
        problems.push(format!("log lacks {needle:?}"));
    }
}

fn check_boot(log: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    require(log, "boot ok", &mut problems);
    problems
}

fn check_kernel_fault(log: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    require(log, "KERNEL PANIC", &mut problems);
    require(log, "invalid opcode", &mut problems);
    problems
}
