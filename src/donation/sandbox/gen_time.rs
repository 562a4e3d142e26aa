//! Time for generated activity (spec §6.4): the persona's time zone and a
//! time line of bursts that follows a daily rhythm.
//!
//! Time zones come from a small built-in table (standard UTC offset plus the
//! EU or US daylight-saving rule) instead of the IANA database: the sandbox
//! only needs "little activity at night, local time", and the repository
//! carries no tz database. Fixed offsets (`+05:30`, `UTC-03:00`) are accepted
//! too.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::gen_rng::Rng;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Daylight-saving rule of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dst {
    None,
    /// Last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC.
    Eu,
    /// Second Sunday of March 02:00 local to first Sunday of November 02:00 local.
    Us,
}

#[derive(Debug, PartialEq, Eq)]
struct ZoneInfo {
    name: &'static str,
    /// Standard offset from UTC in seconds.
    offset: i32,
    dst: Dst,
}

const fn zone(name: &'static str, hours: i32, minutes: i32, dst: Dst) -> ZoneInfo {
    ZoneInfo { name, offset: hours * 3600 + minutes * 60, dst }
}

static ZONES: &[ZoneInfo] = &[
    zone("UTC", 0, 0, Dst::None),
    zone("Europe/London", 0, 0, Dst::Eu),
    zone("Europe/Dublin", 0, 0, Dst::Eu),
    zone("Europe/Lisbon", 0, 0, Dst::Eu),
    zone("Europe/Amsterdam", 1, 0, Dst::Eu),
    zone("Europe/Berlin", 1, 0, Dst::Eu),
    zone("Europe/Brussels", 1, 0, Dst::Eu),
    zone("Europe/Copenhagen", 1, 0, Dst::Eu),
    zone("Europe/Madrid", 1, 0, Dst::Eu),
    zone("Europe/Oslo", 1, 0, Dst::Eu),
    zone("Europe/Paris", 1, 0, Dst::Eu),
    zone("Europe/Prague", 1, 0, Dst::Eu),
    zone("Europe/Rome", 1, 0, Dst::Eu),
    zone("Europe/Stockholm", 1, 0, Dst::Eu),
    zone("Europe/Vienna", 1, 0, Dst::Eu),
    zone("Europe/Warsaw", 1, 0, Dst::Eu),
    zone("Europe/Zurich", 1, 0, Dst::Eu),
    zone("Europe/Athens", 2, 0, Dst::Eu),
    zone("Europe/Helsinki", 2, 0, Dst::Eu),
    zone("Europe/Kyiv", 2, 0, Dst::Eu),
    zone("Europe/Riga", 2, 0, Dst::Eu),
    zone("Europe/Tallinn", 2, 0, Dst::Eu),
    zone("Europe/Vilnius", 2, 0, Dst::Eu),
    zone("Europe/Istanbul", 3, 0, Dst::None),
    zone("Europe/Moscow", 3, 0, Dst::None),
    zone("Africa/Lagos", 1, 0, Dst::None),
    zone("Africa/Johannesburg", 2, 0, Dst::None),
    zone("Africa/Nairobi", 3, 0, Dst::None),
    zone("America/Anchorage", -9, 0, Dst::Us),
    zone("America/Chicago", -6, 0, Dst::Us),
    zone("America/Denver", -7, 0, Dst::Us),
    zone("America/Los_Angeles", -8, 0, Dst::Us),
    zone("America/Mexico_City", -6, 0, Dst::None),
    zone("America/New_York", -5, 0, Dst::Us),
    zone("America/Phoenix", -7, 0, Dst::None),
    zone("America/Sao_Paulo", -3, 0, Dst::None),
    zone("America/Toronto", -5, 0, Dst::Us),
    zone("America/Vancouver", -8, 0, Dst::Us),
    zone("Pacific/Honolulu", -10, 0, Dst::None),
    zone("Asia/Dubai", 4, 0, Dst::None),
    zone("Asia/Kolkata", 5, 30, Dst::None),
    zone("Asia/Shanghai", 8, 0, Dst::None),
    zone("Asia/Singapore", 8, 0, Dst::None),
    zone("Asia/Seoul", 9, 0, Dst::None),
    zone("Asia/Tokyo", 9, 0, Dst::None),
    zone("Australia/Brisbane", 10, 0, Dst::None),
];

/// The persona's time zone: a named zone of the built-in table or a fixed
/// UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(ZoneKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZoneKind {
    Named(&'static ZoneInfo),
    /// Seconds east of UTC.
    Fixed(i32),
}

impl Default for Zone {
    /// `Europe/Helsinki` (spec §6.3).
    fn default() -> Zone {
        Zone::parse("Europe/Helsinki").expect("the default zone is in the table")
    }
}

impl Zone {
    /// A zone name from the table (ASCII case-insensitive; `Etc/UTC`, `GMT`
    /// and `Z` mean `UTC`), or a fixed offset `±HH:MM` optionally prefixed by
    /// `UTC`.
    pub fn parse(s: &str) -> Option<Zone> {
        let s = s.trim();
        if ["Etc/UTC", "GMT", "Z"].iter().any(|alias| alias.eq_ignore_ascii_case(s)) {
            return Zone::parse("UTC");
        }
        if let Some(info) = ZONES.iter().find(|z| z.name.eq_ignore_ascii_case(s)) {
            return Some(Zone(ZoneKind::Named(info)));
        }
        let offset = s.strip_prefix("UTC").or_else(|| s.strip_prefix("utc")).unwrap_or(s);
        let (sign, rest) = match offset.as_bytes().first()? {
            b'+' => (1, &offset[1..]),
            b'-' => (-1, &offset[1..]),
            _ => return None,
        };
        let (h, m) = rest.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        Some(Zone(ZoneKind::Fixed(sign * (h * 3600 + m * 60))))
    }

    /// Names of the built-in zones, for help texts.
    pub fn known_names() -> impl Iterator<Item = &'static str> {
        ZONES.iter().map(|z| z.name)
    }

    /// Offset from UTC in seconds at the instant `utc_ms` (milliseconds since
    /// the Unix epoch), daylight saving included.
    pub fn offset_at(&self, utc_ms: i64) -> i32 {
        match self.0 {
            ZoneKind::Fixed(offset) => offset,
            ZoneKind::Named(info) => {
                let Some(year) = DateTime::from_timestamp_millis(utc_ms).map(|t| t.year()) else {
                    return info.offset;
                };
                let summer = match info.dst {
                    Dst::None => None,
                    Dst::Eu => {
                        let start = last_sunday(year, 3) * DAY_MS + HOUR_MS;
                        let end = last_sunday(year, 10) * DAY_MS + HOUR_MS;
                        Some((start, end))
                    }
                    Dst::Us => {
                        let std = i64::from(info.offset) * 1000;
                        let start = nth_sunday(year, 3, 2) * DAY_MS + 2 * HOUR_MS - std;
                        let end = nth_sunday(year, 11, 1) * DAY_MS + HOUR_MS - std;
                        Some((start, end))
                    }
                };
                match summer {
                    Some((start, end)) if (start..end).contains(&utc_ms) => info.offset + 3600,
                    _ => info.offset,
                }
            }
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ZoneKind::Named(info) => f.write_str(info.name),
            ZoneKind::Fixed(offset) => {
                let sign = if offset < 0 { '-' } else { '+' };
                let abs = offset.unsigned_abs();
                write!(f, "UTC{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
            }
        }
    }
}

/// Days since the Unix epoch of the last Sunday of `month` in `year`.
fn last_sunday(year: i32, month: u32) -> i64 {
    let next = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let last = NaiveDate::from_ymd_opt(next.0, next.1, 1).expect("valid date").pred_opt().expect("valid date");
    epoch_days(last) - i64::from(last.weekday().num_days_from_sunday())
}

/// Days since the Unix epoch of the `n`-th Sunday of `month` in `year`.
fn nth_sunday(year: i32, month: u32, n: i64) -> i64 {
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid date");
    let to_sunday = (7 - i64::from(first.weekday().num_days_from_sunday())) % 7;
    epoch_days(first) + to_sunday + 7 * (n - 1)
}

fn epoch_days(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days()
}

// The daily rhythm is a change of clock: "active time" runs at full speed by
// day and at a tenth of it between 01:00 and 06:00 local, so events spread
// evenly in active time fall ten times less often at night. Active time
// counts whole local days of 19.5 active hours.
const NIGHT_START: i64 = HOUR_MS;
const NIGHT_END: i64 = 6 * HOUR_MS;
const NIGHT_SLOWDOWN: i64 = 10;
const ACTIVE_NIGHT: i64 = (NIGHT_END - NIGHT_START) / NIGHT_SLOWDOWN;
const ACTIVE_DAY: i64 = DAY_MS - (NIGHT_END - NIGHT_START) + ACTIVE_NIGHT;

fn local_to_active(local_ms: i64) -> i64 {
    let (day, s) = (local_ms.div_euclid(DAY_MS), local_ms.rem_euclid(DAY_MS));
    let active = if s < NIGHT_START {
        s
    } else if s < NIGHT_END {
        NIGHT_START + (s - NIGHT_START) / NIGHT_SLOWDOWN
    } else {
        NIGHT_START + ACTIVE_NIGHT + (s - NIGHT_END)
    };
    day * ACTIVE_DAY + active
}

fn active_to_local(active_ms: i64) -> i64 {
    let (day, a) = (active_ms.div_euclid(ACTIVE_DAY), active_ms.rem_euclid(ACTIVE_DAY));
    let s = if a < NIGHT_START {
        a
    } else if a < NIGHT_START + ACTIVE_NIGHT {
        NIGHT_START + (a - NIGHT_START) * NIGHT_SLOWDOWN
    } else {
        NIGHT_END + (a - NIGHT_START - ACTIVE_NIGHT)
    };
    day * DAY_MS + s
}

/// Record times of one member, newest first: `n` events in bursts of a few
/// to a few dozen events minutes apart, spread over `[start, end)` with the
/// daily rhythm of `zone`. The span is cut into equal slots of active time
/// and each slot gets one burst, so the events always fit the span and come
/// out ordered without sorting (memory does not grow with `n`).
pub(crate) struct Timeline {
    rng: Rng,
    zone: Zone,
    active_start: f64,
    slot_len: f64,
    slots_left: u64,
    remaining: u64,
    in_burst: u64,
    gap_max: f64,
    cursor: f64,
    last: i64,
}

/// Mean burst size; bursts range from a quarter to 1.75 times the running
/// mean, i.e. roughly 3 to 30 events.
const MEAN_BURST: f64 = 16.5;
/// Longest gap between two events of a burst: a few minutes.
const MAX_GAP_MS: f64 = 240_000.0;

impl Timeline {
    /// `start_ms..end_ms` in UTC milliseconds; `n` events.
    pub(crate) fn new(rng: Rng, zone: Zone, start_ms: i64, end_ms: i64, n: u64) -> Timeline {
        let to_active = |utc: i64| local_to_active(utc + i64::from(zone.offset_at(utc)) * 1000) as f64;
        let (active_start, active_end) = (to_active(start_ms), to_active(end_ms));
        let empty = end_ms <= start_ms || n == 0;
        let slots = ((n as f64 / MEAN_BURST).round() as u64).max(1);
        Timeline {
            rng,
            zone,
            active_start,
            slot_len: (active_end - active_start).max(0.0) / slots as f64,
            slots_left: if empty { 0 } else { slots },
            remaining: if empty { 0 } else { n },
            in_burst: 0,
            gap_max: 0.0,
            cursor: 0.0,
            last: end_ms - 1,
        }
    }

    fn start_burst(&mut self) {
        let slot = self.slots_left - 1;
        let size = if self.slots_left == 1 {
            self.remaining
        } else {
            let mean = self.remaining as f64 / self.slots_left as f64;
            ((mean * (0.25 + 1.5 * self.rng.unit())).round() as u64).clamp(1, self.remaining)
        };
        self.gap_max = MAX_GAP_MS.min(self.slot_len / size as f64);
        let burst_len = self.gap_max * (size - 1) as f64;
        let slot_start = self.active_start + self.slot_len * slot as f64;
        self.cursor = slot_start + burst_len + self.rng.unit() * (self.slot_len - burst_len).max(0.0);
        self.in_burst = size;
        self.slots_left -= 1;
    }
}

impl Iterator for Timeline {
    /// UTC milliseconds since the epoch.
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.remaining == 0 {
            return None;
        }
        if self.in_burst == 0 {
            self.start_burst();
        } else {
            self.cursor -= self.gap_max * (0.125 + 0.875 * self.rng.unit());
        }
        self.in_burst -= 1;
        self.remaining -= 1;
        let local = active_to_local(self.cursor.floor() as i64);
        let guess = local - i64::from(self.zone.offset_at(local)) * 1000;
        let utc = local - i64::from(self.zone.offset_at(guess)) * 1000;
        // A daylight-saving change can move an event past its predecessor;
        // newest-first order wins over the hour.
        self.last = utc.min(self.last);
        Some(self.last)
    }
}

/// Milliseconds since the epoch of a UTC instant.
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// `2024-01-15T10:00:00.000Z`, the form of My Activity's `time`.
pub(crate) fn push_rfc3339_ms(out: &mut String, utc_ms: i64) {
    use std::fmt::Write as _;
    let t = DateTime::from_timestamp_millis(utc_ms).unwrap_or_default().naive_utc();
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        chrono::Timelike::hour(&t),
        chrono::Timelike::minute(&t),
        chrono::Timelike::second(&t),
        utc_ms.rem_euclid(1000)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn ms(y: i32, mo: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap().timestamp_millis()
    }

    #[test]
    fn zones_parse_and_render() {
        assert_eq!(Zone::default().to_string(), "Europe/Helsinki");
        assert_eq!(Zone::parse("europe/helsinki"), Some(Zone::default()));
        assert_eq!(Zone::parse("Etc/UTC").unwrap().to_string(), "UTC");
        assert_eq!(Zone::parse("+05:30").unwrap().to_string(), "UTC+05:30");
        assert_eq!(Zone::parse("UTC-03:00").unwrap().offset_at(0), -3 * 3600);
        for bad in ["Mars/Olympus", "+5", "UTC+25:00", "", "+05:61"] {
            assert_eq!(Zone::parse(bad), None, "{bad}");
        }
        for name in Zone::known_names() {
            assert_eq!(Zone::parse(name).unwrap().to_string(), name);
        }
    }

    #[test]
    fn daylight_saving_follows_the_eu_and_us_rules() {
        let helsinki = Zone::default();
        assert_eq!(helsinki.offset_at(ms(2024, 1, 15, 12)), 7200);
        assert_eq!(helsinki.offset_at(ms(2024, 7, 15, 12)), 10800);
        // 2024: EU summer time from 31 March 01:00 UTC to 27 October 01:00 UTC.
        assert_eq!(helsinki.offset_at(ms(2024, 3, 31, 0)), 7200);
        assert_eq!(helsinki.offset_at(ms(2024, 3, 31, 1)), 10800);
        assert_eq!(helsinki.offset_at(ms(2024, 10, 27, 0)), 10800);
        assert_eq!(helsinki.offset_at(ms(2024, 10, 27, 1)), 7200);
        // 2024: US daylight time from 10 March 07:00 UTC to 3 November 06:00 UTC in New York.
        let new_york = Zone::parse("America/New_York").unwrap();
        assert_eq!(new_york.offset_at(ms(2024, 3, 10, 6)), -5 * 3600);
        assert_eq!(new_york.offset_at(ms(2024, 3, 10, 7)), -4 * 3600);
        assert_eq!(new_york.offset_at(ms(2024, 11, 3, 5)), -4 * 3600);
        assert_eq!(new_york.offset_at(ms(2024, 11, 3, 6)), -5 * 3600);
    }

    #[test]
    fn active_time_round_trips() {
        for local in [0, 59 * 60_000, NIGHT_START, 3 * HOUR_MS, NIGHT_END, 20 * HOUR_MS, -5 * HOUR_MS, 400 * DAY_MS] {
            assert_eq!(active_to_local(local_to_active(local)), local, "{local}");
        }
    }

    #[test]
    fn timeline_is_newest_first_inside_the_span_with_quiet_nights() {
        let zone = Zone::default();
        let (start, end) = (ms(2023, 1, 1, 0), ms(2024, 1, 1, 0));
        let times: Vec<i64> = Timeline::new(Rng::new(1, "t", "time"), zone, start, end, 5000).collect();
        assert_eq!(times.len(), 5000);
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
        assert!(times.iter().all(|t| (start..end).contains(t)));
        let night = times
            .iter()
            .filter(|&&t| {
                let local_hour = (t + i64::from(zone.offset_at(t)) * 1000).rem_euclid(DAY_MS) / HOUR_MS;
                (1..6).contains(&local_hour)
            })
            .count();
        // 5 of 24 hours would hold about a fifth of the events without the rhythm.
        assert!(night < times.len() / 20, "{night} events at night");
        // Bursts: most events are minutes apart, not hours.
        let close = times.windows(2).filter(|w| w[0] - w[1] <= 5 * 60_000).count();
        assert!(close > times.len() * 3 / 4, "{close}");
        // Spread over the whole year, not bunched at one end.
        assert!(times[times.len() - 1] < ms(2023, 1, 20, 0));
        assert!(times[0] > ms(2023, 12, 10, 0));
    }

    #[test]
    fn timeline_handles_tiny_and_empty_spans() {
        let zone = Zone::default();
        let t0 = ms(2024, 1, 1, 0);
        assert_eq!(Timeline::new(Rng::new(1, "t", "x"), zone, t0, t0, 10).count(), 0);
        assert_eq!(Timeline::new(Rng::new(1, "t", "x"), zone, t0, t0 + 1, 10).count(), 10);
        assert_eq!(Timeline::new(Rng::new(1, "t", "x"), zone, t0, t0 + DAY_MS, 0).count(), 0);
        let one: Vec<i64> = Timeline::new(Rng::new(1, "t", "x"), zone, t0, t0 + DAY_MS, 1).collect();
        assert_eq!(one.len(), 1);
        assert!((t0..t0 + DAY_MS).contains(&one[0]));
    }

    #[test]
    fn times_render_with_milliseconds() {
        let mut s = String::new();
        push_rfc3339_ms(&mut s, ms(2024, 1, 15, 10) + 734);
        assert_eq!(s, "2024-01-15T10:00:00.734Z");
    }
}
