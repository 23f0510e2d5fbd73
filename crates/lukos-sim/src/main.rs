//! `lukos-sim`: run the simulated LuKOS kernel's scenarios, or test the IPC
//! manager with deterministic simulation (`lukos-sim check`).

use lukos_sim::scenarios::Scenario;

fn main() {
    let mut failed = false;
    for scenario in Scenario::ALL {
        let outcome = scenario.run(1, None);
        print!("{}", outcome.render());
        failed |= !outcome.passed();
    }
    std::process::exit(i32::from(failed));
}
