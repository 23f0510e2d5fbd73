//! What the figures were measured on: CPU model, CPUs usable, and the date,
//! for the title of every plot and report.

use std::time::{SystemTime, UNIX_EPOCH};

/// The machine a run happened on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// CPU model, from `/proc/cpuinfo` ("unknown CPU" elsewhere).
    pub cpu: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// The run's date, UTC, as `YYYY-MM-DD`.
    pub date: String,
    /// The 1-minute load average when the run began (from
    /// `/proc/loadavg`): how busy other jobs kept the machine.
    pub load: Option<f64>,
}

impl Machine {
    /// This machine, now.
    #[must_use]
    pub fn here() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let days = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| parse_load(&text));
        Machine {
            load,
            cpu,
            cpus: crate::affinity::usable_cpus(),
            date: civil_date(days),
        }
    }

    /// "CPU model, N CPUs, date, load L" for titles.
    #[must_use]
    pub fn describe(&self) -> String {
        let load = self
            .load
            .map_or_else(String::new, |l| format!(", load average {l:.1}"));
        format!("{}, {} CPUs, {}{load}", self.cpu, self.cpus, self.date)
    }
}

/// The 1-minute load average, the first figure of `/proc/loadavg`.
fn parse_load(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

/// `YYYY-MM-DD` of the day `days` after 1970-01-01 (proleptic Gregorian;
/// H. Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::{Machine, civil_date, parse_load};

    #[test]
    fn the_load_average_is_the_first_figure_and_goes_into_the_title() {
        assert_eq!(parse_load("18.74 18.64 16.80 20/229 17505\n"), Some(18.74));
        assert_eq!(parse_load(""), None);
        let machine = Machine {
            cpu: "CPU".into(),
            cpus: 2,
            date: "2026-12-02".into(),
            load: Some(18.74),
        };
        assert_eq!(
            machine.describe(),
            "CPU, 2 CPUs, 2026-12-02, load average 18.7"
        );
    }

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_788), "2026-12-01");
    }
}
