//! What each boot scenario starts. The kernel command line picks one
//! (`scenario=NAME`); `cargo xtask qemu-test` boots each and checks its log.

#![forbid(unsafe_code)]

/// One process to start: program, priority of its first thread, argument.
pub struct Launch {
    /// Embedded program name.
    pub program: &'static str,
    /// Priority of the first thread.
    pub priority: u8,
    /// Passed to `_start` (e.g. a worker index).
    pub arg: u64,
    /// Timer ticks of CPU the process may use before it is killed (`None`:
    /// no limit).
    pub cpu_ticks: Option<u64>,
    /// The CPU its threads run on (`None`, or a CPU that is not online:
    /// any).
    pub cpu: Option<u8>,
}

const fn launch(program: &'static str, priority: u8, arg: u64) -> Launch {
    Launch {
        program,
        priority,
        arg,
        cpu_ticks: None,
        cpu: None,
    }
}

/// A process whose threads run only on CPU `cpu` (when it is online).
const fn pinned(program: &'static str, priority: u8, arg: u64, cpu: u8) -> Launch {
    Launch {
        program,
        priority,
        arg,
        cpu_ticks: None,
        cpu: Some(cpu),
    }
}

/// A process the kernel kills once it has used `cpu_ticks` ticks of CPU.
const fn limited(program: &'static str, priority: u8, arg: u64, cpu_ticks: u64) -> Launch {
    Launch {
        program,
        priority,
        arg,
        cpu_ticks: Some(cpu_ticks),
        cpu: None,
    }
}

/// Every scenario and the processes it starts.
const SCENARIOS: &[(&str, &[Launch])] = &[
    ("boot", &[launch("hello", 2, 0)]),
    (
        "sched",
        &[
            launch("spinner", 1, 0),
            launch("spinner", 1, 1),
            launch("hello", 3, 0),
            launch("prio-waiters", 4, 0),
        ],
    ),
    ("ipc", &[launch("producer", 2, 0), launch("consumer", 2, 0)]),
    (
        "blackboard",
        &[
            launch("sensor", 3, 0),
            launch("display", 2, 0),
            launch("display", 2, 1),
            launch("display", 2, 2),
        ],
    ),
    (
        "semaphore",
        &[
            launch("sem-init", 4, 0),
            launch("sem-worker", 2, 0),
            launch("sem-worker", 2, 1),
            launch("sem-worker", 2, 2),
        ],
    ),
    (
        "rpc",
        &[
            launch("rpc-server", 3, 0),
            launch("rpc-client", 2, 1),
            launch("rpc-client", 2, 2),
        ],
    ),
    ("badaddr", &[launch("badaddr", 2, 0)]),
    (
        "fault",
        &[
            launch("victim", 2, 0),
            launch("gpfault", 2, 0),
            launch("observer", 1, 0),
        ],
    ),
    ("timeout", &[launch("timeouts", 2, 0)]),
    ("timer-order", &[launch("timer-order", 2, 0)]),
    (
        "smp-stress",
        &[
            launch("stress", 2, 0),
            launch("stress", 2, 1),
            launch("stress", 2, 2),
            launch("stress", 2, 3),
            limited("stress", 2, 4, 50),
        ],
    ),
    (
        "destroy",
        &[launch("destroyer", 2, 0), launch("intruder", 1, 0)],
    ),
    (
        "select-server",
        &[
            launch("select-server", 3, 0),
            launch("select-client", 2, 1),
            launch("select-client", 2, 2),
            launch("select-client", 2, 3),
        ],
    ),
    ("queue-ops", &[launch("queue-ops", 2, 0)]),
    (
        "pipeline-close",
        &[
            launch("drain-producer", 3, 0),
            launch("drain-consumer", 2, 0),
        ],
    ),
    (
        "bench",
        &[launch("bench", 2, 0), launch("bench-echo", 2, 0)],
    ),
    (
        "bench-select",
        &[
            launch("bench-select", 2, 0),
            launch("bench-select-echo", 2, 0),
        ],
    ),
    (
        "bench-cross",
        &[pinned("bench", 2, 1, 1), pinned("bench-echo", 2, 0, 2)],
    ),
    // The hostile suite: one attacker class each, next to bystanders that
    // must finish.
    (
        "hostile-flags",
        &[
            launch("flags", 2, 0),
            launch("flags", 2, 1),
            launch("bystander", 2, 1),
        ],
    ),
    (
        "hostile-forge",
        &[launch("forger", 2, 0), launch("bystander", 2, 1)],
    ),
    (
        "hostile-priority",
        &[launch("climber", 1, 0), launch("bystander", 2, 1)],
    ),
    (
        "hostile-flood",
        &[launch("flood", 2, 0), launch("bystander", 2, 1)],
    ),
    (
        "hostile-quota",
        &[
            launch("hog", 2, 0),
            launch("hog-waiter", 2, 0),
            launch("bystander", 2, 1),
        ],
    ),
    (
        "hostile-toppage",
        &[launch("toppage", 2, 0), launch("bystander", 2, 1)],
    ),
    (
        "hostile-privileged",
        &[
            launch("privileged", 2, 0),
            launch("privileged", 2, 1),
            launch("privileged", 2, 2),
            launch("privileged", 2, 3),
            launch("privileged", 2, 4),
            launch("privileged", 2, 5),
            launch("privileged", 2, 6),
            launch("bystander", 2, 1),
        ],
    ),
    (
        "hostile-stack",
        &[
            launch("smasher", 2, 0),
            launch("smasher", 2, 1),
            launch("bystander", 2, 1),
        ],
    ),
    // The first return to ring 3 is given a bad frame (see
    // `sched::corrupt_next_iret`): the iretq faults in ring 0.
    (
        "iret-fault",
        &[launch("bystander", 2, 0), launch("bystander", 2, 1)],
    ),
    (
        "hostile-select",
        &[
            launch("sel-owner", 2, 0),
            launch("sel-attacker", 2, 0),
            launch("sel-fuzz", 1, 0),
            launch("bystander", 2, 1),
        ],
    ),
    (
        "hostile-spin",
        &[
            limited("spin-forever", 2, 0, 20),
            launch("bystander", 2, 1),
            launch("bystander", 2, 2),
        ],
    ),
];

/// The processes of `scenario`, or `None` for an unknown name.
pub fn processes(scenario: &str) -> Option<&'static [Launch]> {
    SCENARIOS
        .iter()
        .find(|(name, _)| *name == scenario)
        .map(|(_, launches)| *launches)
}
