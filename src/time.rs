//! Timestamps (milliseconds since the Unix epoch, UTC) and proleptic Gregorian calendar dates.
//!
//! Hand-written because parcours needs only three things: now, RFC 3339 output, and day arithmetic for
//! date entities ("tomorrow", "on Monday"); the civil-date algorithm is Howard Hinnant's.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

const MS_PER_DAY: u64 = 86_400_000;

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as u64)
    }

    /// This instant plus `ms` milliseconds.
    pub fn plus_ms(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// The calendar day (UTC) this instant falls on.
    pub fn date(self) -> Date {
        Date::from_days((self.0 / MS_PER_DAY) as i64)
    }

    /// Parses an RFC 3339 timestamp (`2026-11-23T10:00:00Z`, offsets and fractions allowed) or a bare date
    /// (`2026-11-23`, meaning midnight UTC).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let date = Date::parse_iso(s.get(..10)?)?;
        let mut ms = date.days() * MS_PER_DAY as i64;
        let rest = &s[10..];
        if !rest.is_empty() {
            let rest = rest.strip_prefix(['T', 't', ' '])?;
            let (hms, tz) = split_tz(rest)?;
            let (hms, frac) = match hms.split_once('.') {
                Some((a, b)) => (a, b),
                None => (hms, ""),
            };
            let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
            let h = parts.next()??;
            let m = parts.next()??;
            let sec = parts.next().unwrap_or(Some(0))?;
            if h > 23 || m > 59 || sec > 60 {
                return None;
            }
            let frac_ms = if frac.is_empty() {
                0
            } else {
                let digits: String = frac.chars().take(3).collect();
                format!("{digits:0<3}").parse::<i64>().ok()?
            };
            ms += ((h * 60 + m) * 60 + sec) * 1000 + frac_ms - tz * 60_000;
        }
        (ms >= 0).then_some(Timestamp(ms as u64))
    }
}

/// Splits `10:00:00+02:00` into the time and the offset in minutes east of UTC.
fn split_tz(s: &str) -> Option<(&str, i64)> {
    if let Some(t) = s.strip_suffix(['Z', 'z']) {
        return Some((t, 0));
    }
    if let Some(i) = s.rfind(['+', '-']) {
        let (t, off) = s.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
        return Some((
            t,
            sign * (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?),
        ));
    }
    Some((s, 0))
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with seconds: `2026-11-23T10:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs_of_day = (self.0 % MS_PER_DAY) / 1000;
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }
}

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// A valid date, or `None` (31 February is `None`).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let d = Date { year, month, day };
        ((1..=12).contains(&month) && day >= 1 && Date::from_days(d.days()) == d).then_some(d)
    }

    /// `YYYY-MM-DD`.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let mut it = s.split('-');
        let y = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        let d = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Date::new(y, m, d)
    }

    /// Monday is 0, Sunday 6.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        ((self.days() + 3).rem_euclid(7)) as u32
    }

    /// The date as a person says it: "Thursday 3 December" in English, "jeudi 3 décembre" in French
    /// (with the year when it is not `this_year`).
    pub fn spoken(self, lang: crate::message::Lang, this_year: i32) -> String {
        const EN_DAYS: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        const EN_MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const FR_DAYS: [&str; 7] = [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ];
        const FR_MONTHS: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        let (days, months) = match lang {
            crate::message::Lang::En => (EN_DAYS, EN_MONTHS),
            crate::message::Lang::Fr => (FR_DAYS, FR_MONTHS),
        };
        let weekday = days[self.weekday() as usize % 7];
        let month = months[(self.month as usize).clamp(1, 12) - 1];
        let day = match (lang, self.day) {
            (crate::message::Lang::Fr, 1) => "1er".to_string(),
            (_, d) => d.to_string(),
        };
        let mut out = format!("{weekday} {day} {month}");
        if self.year != this_year {
            out.push_str(&format!(" {}", self.year));
        }
        out
    }

    /// This date plus `n` days.
    pub fn add_days(self, n: i64) -> Self {
        Date::from_days(self.days() + n)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_said_as_people_say_them() {
        let d = Date::new(2026, 12, 3).unwrap();
        assert_eq!(
            d.spoken(crate::message::Lang::En, 2026),
            "Thursday 3 December"
        );
        assert_eq!(d.spoken(crate::message::Lang::Fr, 2026), "jeudi 3 décembre");
        let d = Date::new(2027, 1, 1).unwrap();
        assert_eq!(
            d.spoken(crate::message::Lang::Fr, 2026),
            "vendredi 1er janvier 2027"
        );
    }

    #[test]
    fn dates_round_trip_through_day_numbers() {
        for days in [-800_000, -1, 0, 1, 59, 10_957, 20_415, 2_932_896] {
            assert_eq!(Date::from_days(days).days(), days);
        }
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::new(2024, 2, 29).map(|d| d.weekday()), Some(3));
    }

    #[test]
    fn the_thirty_first_of_february_is_not_a_date() {
        assert_eq!(Date::new(2026, 2, 31), None);
    }

    #[test]
    fn timestamps_parse_with_offsets_and_print_in_utc() {
        let t = Timestamp::parse("2026-11-23T12:30:00+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-23T10:30:00Z");
        assert_eq!(
            Timestamp::parse("2026-11-23").unwrap().to_string(),
            "2026-11-23T00:00:00Z"
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
    }
}
