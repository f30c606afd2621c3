//! Deadlines in business days (Monday to Friday, UTC), as pure functions of the time given:
//! a case is due 7 business days after the report, escalated 2 business days before that,
//! overdue after it. No holidays: an operator who must count them shortens the deadline.

use fanz_core::clock::DAY;
use time::{OffsetDateTime, Weekday};

/// Business days a case has, from receipt to decision.
pub const DUE_BUSINESS_DAYS: i64 = 7;
/// Business days before `due_at` a case is escalated.
pub const ESCALATE_BUSINESS_DAYS: i64 = 2;

fn weekday(micros: i64) -> Weekday {
    OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .map(|t| t.weekday())
        .unwrap_or(Weekday::Monday)
}

pub fn is_business_day(micros: i64) -> bool {
    !matches!(weekday(micros), Weekday::Saturday | Weekday::Sunday)
}

/// `at` moved `n` business days forward (negative: back), keeping the time of day. Every
/// day passed over counts only if it is a business day, so the result is always one.
pub fn add_business_days(at: i64, n: i64) -> i64 {
    let step = if n < 0 { -DAY } else { DAY };
    let mut left = n.abs();
    let mut t = at;
    while left > 0 {
        t += step;
        if is_business_day(t) {
            left -= 1;
        }
    }
    t
}

/// When a report received at `received` must be decided.
pub fn due_at(received: i64) -> i64 {
    add_business_days(received, DUE_BUSINESS_DAYS)
}

/// When a case due at `due` is escalated.
pub fn escalate_at(due: i64) -> i64 {
    add_business_days(due, -ESCALATE_BUSINESS_DAYS)
}

/// What the deadline job does to an undecided case at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineAction {
    Escalate,
    MarkOverdue,
}

/// `status` is `open` or `escalated`; `overdue` whether it is already marked.
pub fn deadline_action(status: &str, overdue: bool, due: i64, now: i64) -> Option<DeadlineAction> {
    match status {
        "open" | "escalated" if now > due && !overdue => Some(DeadlineAction::MarkOverdue),
        "open" if now >= escalate_at(due) => Some(DeadlineAction::Escalate),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn at(dt: OffsetDateTime) -> i64 {
        dt.unix_timestamp() * 1_000_000
    }

    #[test]
    fn seven_business_days_skip_weekends() {
        // Wednesday 2 Dec 2026 10:00 → Friday 11 Dec 10:00.
        let wed = at(datetime!(2026-12-02 10:00 UTC));
        assert_eq!(due_at(wed), at(datetime!(2026-12-11 10:00 UTC)));
        // Friday → the Tuesday of the week after next.
        let fri = at(datetime!(2026-12-04 18:30 UTC));
        assert_eq!(due_at(fri), at(datetime!(2026-12-15 18:30 UTC)));
        // Received on a Saturday or Sunday: counted from the Monday.
        let sat = at(datetime!(2026-12-05 09:00 UTC));
        let sun = at(datetime!(2026-12-06 09:00 UTC));
        assert_eq!(due_at(sat), at(datetime!(2026-12-15 09:00 UTC)));
        assert_eq!(due_at(sun), at(datetime!(2026-12-15 09:00 UTC)));
        for d in 0..14 {
            let t = wed + d * DAY;
            assert!(is_business_day(due_at(t)));
            assert!(due_at(t) - t >= 9 * DAY);
        }
    }

    #[test]
    fn escalation_two_business_days_before() {
        let due = at(datetime!(2026-12-15 10:00 UTC)); // Tuesday
        assert_eq!(escalate_at(due), at(datetime!(2026-12-11 10:00 UTC))); // Friday
    }

    #[test]
    fn the_deadline_job_with_a_simulated_clock() {
        let received = at(datetime!(2026-12-02 10:00 UTC));
        let due = due_at(received);
        // Day by day: nothing until the Wednesday before, escalation then, overdue after Friday.
        assert_eq!(deadline_action("open", false, due, received), None);
        let before = at(datetime!(2026-12-09 09:59 UTC));
        assert_eq!(deadline_action("open", false, due, before), None);
        let esc = at(datetime!(2026-12-09 10:00 UTC));
        assert_eq!(
            deadline_action("open", false, due, esc),
            Some(DeadlineAction::Escalate)
        );
        assert_eq!(deadline_action("escalated", false, due, esc), None);
        assert_eq!(deadline_action("escalated", false, due, due), None);
        let late = due + 1;
        assert_eq!(
            deadline_action("escalated", false, due, late),
            Some(DeadlineAction::MarkOverdue)
        );
        assert_eq!(
            deadline_action("open", false, due, late),
            Some(DeadlineAction::MarkOverdue)
        );
        assert_eq!(deadline_action("escalated", true, due, late), None);
        assert_eq!(deadline_action("decided", false, due, late), None);
    }
}
