//! The CronJob controller: creates a Job from a CronJob's template each time its schedule
//! fires (in its `timeZone`, UTC by default), as its `concurrencyPolicy` allows, and keeps the
//! newest `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` finished Jobs.

use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A schedule in standard cron syntax (five fields, or `@hourly`-style descriptors), or why it is
/// not one.
pub fn parse_schedule(schedule: &str) -> Result<Cron, String> {
    let schedule = schedule.trim();
    let schedule = match schedule {
        "@midnight" => "@daily",
        other => other,
    };
    CronParser::builder().seconds(Seconds::Disallowed).build().parse(schedule).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_as_kubernetes_reads_them() {
        assert!(parse_schedule("*/1 * * * *").is_ok());
        assert!(parse_schedule("0 3 * * 1-5").is_ok());
        assert!(parse_schedule("@hourly").is_ok());
        assert!(parse_schedule("@midnight").is_ok());
        assert!(parse_schedule("not a schedule").is_err());
        assert!(parse_schedule("* * * * * *").is_err());
    }
}
