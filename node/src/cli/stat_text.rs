//! A znode's Stat, as `corral stat` prints it: zkCli's `name = value` lines,
//! or JSON with fixed snake_case names.

use std::fmt::Write as _;

use corral_client::Stat;
use serde::Serialize;

/// A Stat in JSON (field names are part of the CLI's interface).
#[derive(Debug, Serialize)]
pub(crate) struct StatJson {
    /// zxid of the creation.
    czxid: i64,
    /// zxid of the last data change.
    mzxid: i64,
    /// zxid of the last child creation or deletion.
    pzxid: i64,
    /// Creation time, ms since the epoch.
    ctime: i64,
    /// Last data change time, ms since the epoch.
    mtime: i64,
    /// Data version.
    version: i32,
    /// Child version.
    cversion: i32,
    /// ACL version.
    aversion: i32,
    /// Owning session of an ephemeral (container/TTL markers as ZooKeeper), else 0.
    ephemeral_owner: i64,
    /// Bytes of data.
    data_length: i32,
    /// Number of children.
    num_children: i32,
}

impl From<&Stat> for StatJson {
    fn from(s: &Stat) -> Self {
        Self {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
        }
    }
}

/// zkCli's `stat` lines (zxids and the owner in hex, times in UTC).
pub(crate) fn stat_text(s: &Stat) -> String {
    let mut out = String::new();
    let lines: [(&str, String); 11] = [
        ("cZxid", format!("{:#x}", s.czxid)),
        ("ctime", time_text(s.ctime)),
        ("mZxid", format!("{:#x}", s.mzxid)),
        ("mtime", time_text(s.mtime)),
        ("pZxid", format!("{:#x}", s.pzxid)),
        ("cversion", s.cversion.to_string()),
        ("dataVersion", s.version.to_string()),
        ("aclVersion", s.aversion.to_string()),
        ("ephemeralOwner", format!("{:#x}", s.ephemeral_owner)),
        ("dataLength", s.data_length.to_string()),
        ("numChildren", s.num_children.to_string()),
    ];
    for (name, value) in lines {
        let _ = writeln!(out, "{name} = {value}");
    }
    out
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn time_text(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(time_text(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(time_text(1_795_318_481_123), "2026-11-22T03:34:41.123Z");
        assert_eq!(time_text(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn stat_lines_use_zookeepers_names() {
        let stat = Stat {
            czxid: 0x1_0000_0002,
            version: 3,
            data_length: 5,
            ..Stat::default()
        };
        let text = stat_text(&stat);
        assert!(text.starts_with("cZxid = 0x100000002\n"), "{text}");
        assert!(text.contains("\ndataVersion = 3\n"), "{text}");
        assert!(text.ends_with("numChildren = 0\n"), "{text}");
    }
}
