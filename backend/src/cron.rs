//! Cron schedules as CronJobs write them (five fields, or `@hourly`-style descriptors): parsed
//! once for the registry's validation and the CronJob controller, and the times they fire.

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::{Timestamp, Zoned};

/// A schedule in standard cron syntax (five fields, or `@hourly`-style descriptors), or why it is
/// not one.
pub fn parse_schedule(schedule: &str) -> Result<Cron, croner::errors::CronError> {
    let schedule = schedule.trim();
    let schedule = match schedule {
        "@midnight" => "@daily",
        other => other,
    };
    CronParser::builder().seconds(Seconds::Disallowed).build().parse(schedule)
}

/// The most recent time the schedule fired at or before `now` and after `since`, and the next
/// time it fires after `now`.
pub fn due(
    cron: &Cron,
    tz: &jiff::tz::TimeZone,
    since: Timestamp,
    now: Timestamp,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let at = now.to_zoned(tz.clone());
    let last = cron.find_previous_occurrence(&at, true).ok().map(|z: Zoned| z.timestamp()).filter(|t| *t > since);
    let next = cron.find_next_occurrence(&at, false).ok().map(|z: Zoned| z.timestamp());
    (last, next)
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

    #[test]
    fn a_schedule_is_due_once_per_time_it_fires() {
        let cron = parse_schedule("*/5 * * * *").unwrap();
        let utc = jiff::tz::TimeZone::UTC;
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let (last, next) = due(&cron, &utc, t("2026-01-01T11:50:00Z"), t("2026-01-01T12:03:10Z"));
        assert_eq!(last, Some(t("2026-01-01T12:00:00Z")));
        assert_eq!(next, Some(t("2026-01-01T12:05:00Z")));
        let (again, _) = due(&cron, &utc, t("2026-01-01T12:00:00Z"), t("2026-01-01T12:03:10Z"));
        assert_eq!(again, None, "it already ran for 12:00");
    }
}
