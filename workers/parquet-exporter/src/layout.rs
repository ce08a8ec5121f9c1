//! The output layout (docs/contracts.md): pure naming rules, plus the scan that
//! tells how far each partition got.
//!
//! `<out>/<dataset>/dt=YYYY-MM-DD/hour=HH/part-<partition>-<first>-<last>.parquet`,
//! date and hour of the row's event time in UTC (a message's `sent_at`, an
//! action's `created_at`); the dataset is its topic's name (`game-messages`,
//! `moderation-actions`). Files are written as
//! `<out>/<dataset>/_tmp/part-<partition>-<first>.<unique>.tmp` and renamed
//! into place when complete.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Folder of files being written (same filesystem, so renames are atomic).
pub const TMP_DIR: &str = "_tmp";

/// The UTC hour a message belongs to, as hours since the epoch.
pub fn hour_of(sent_at_ms: i64) -> i64 {
    sent_at_ms.div_euclid(3_600_000)
}

/// `dt=YYYY-MM-DD/hour=HH` of an hour since the epoch.
pub fn hour_dir(hour: i64) -> String {
    let days = hour.div_euclid(24);
    let (y, m, d) = civil_from_days(days);
    format!("dt={y:04}-{m:02}-{d:02}/hour={:02}", hour.rem_euclid(24))
}

/// `dt=…/hour=…/part-….parquet`, relative to the dataset folder.
pub fn relative_part_path(hour: i64, partition: i32, first: i64, last: i64) -> String {
    format!("{}/{}", hour_dir(hour), part_name(partition, first, last))
}

/// Highest last offset per partition among part file names.
pub fn highest_offsets<'a>(names: impl IntoIterator<Item = &'a str>) -> HashMap<i32, i64> {
    let mut highest: HashMap<i32, i64> = HashMap::new();
    for (p, _, last) in names.into_iter().filter_map(parse_part_name) {
        let h = highest.entry(p).or_insert(last);
        *h = (*h).max(last);
    }
    highest
}

/// File name of a finished part.
pub fn part_name(partition: i32, first: i64, last: i64) -> String {
    format!("part-{partition}-{first}-{last}.parquet")
}

/// Parses `part-<partition>-<first>-<last>.parquet`.
pub fn parse_part_name(name: &str) -> Option<(i32, i64, i64)> {
    let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let mut parts = stem.split('-');
    let partition = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((partition, first, last))
}

/// Temp file name for a part of `partition` starting at `first`.
pub fn tmp_name(partition: i32, first: i64) -> String {
    format!(
        "part-{partition}-{first}.{}.tmp",
        uuid::Uuid::new_v4().simple()
    )
}

/// The partition a temp file belongs to.
pub fn tmp_partition(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("part-")?;
    name.ends_with(".tmp").then_some(())?;
    rest.split('-').next()?.parse().ok()
}

/// Dataset root, temp folder and final path helpers for one output root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of `dataset` under `out`.
    pub fn new(out: &Path, dataset: &str) -> Self {
        Layout {
            root: out.join(dataset),
        }
    }

    /// `<out>/<dataset>`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<out>/<dataset>/_tmp`.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// Final path of a part.
    pub fn part_path(&self, hour: i64, partition: i32, first: i64, last: i64) -> PathBuf {
        self.root
            .join(hour_dir(hour))
            .join(part_name(partition, first, last))
    }

    /// Highest last offset written per partition, from the file names.
    pub fn scan(&self) -> io::Result<HashMap<i32, i64>> {
        let mut names = Vec::new();
        for dt in read_dirs(&self.root, "dt=")? {
            for hour in read_dirs(&dt, "hour=")? {
                for entry in std::fs::read_dir(&hour)? {
                    names.push(entry?.file_name().to_string_lossy().into_owned());
                }
            }
        }
        Ok(highest_offsets(names.iter().map(String::as_str)))
    }

    /// Deletes leftover temp files of `partitions`; returns how many.
    pub fn remove_tmp(&self, partitions: &[i32]) -> io::Result<usize> {
        let dir = self.tmp_dir();
        if !dir.exists() {
            return Ok(0);
        }
        let mut removed = 0;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name
                .to_str()
                .and_then(tmp_partition)
                .is_some_and(|p| partitions.contains(&p))
            {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn read_dirs(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() && entry.file_name().to_string_lossy().starts_with(prefix) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_map_to_utc_date_and_hour() {
        // 2026-11-21T23:59:59.999Z and one millisecond later.
        let ms = 1_795_305_599_999;
        assert_eq!(hour_dir(hour_of(ms)), "dt=2026-11-21/hour=23");
        assert_eq!(hour_dir(hour_of(ms + 1)), "dt=2026-11-22/hour=00");
        assert_eq!(hour_dir(hour_of(0)), "dt=1970-01-01/hour=00");
        assert_eq!(hour_dir(hour_of(951_782_400_000)), "dt=2000-02-29/hour=00");
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            parse_part_name(&part_name(7, 100, 250)),
            Some((7, 100, 250))
        );
        assert_eq!(parse_part_name("part-7-100.parquet"), None);
        assert_eq!(parse_part_name("other.parquet"), None);
        assert_eq!(tmp_partition(&tmp_name(11, 5)), Some(11));
        assert_eq!(tmp_partition("part-3-1-2.parquet"), None);
    }

    #[test]
    fn scan_finds_the_highest_last_offset_and_tmp_cleanup_is_per_partition() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path(), "game-messages");
        for (hour, p, first, last) in [
            (490_000, 0, 0, 99),
            (490_001, 0, 100, 150),
            (490_000, 1, 0, 9),
        ] {
            let path = layout.part_path(hour, p, first, last);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, b"x").expect("write");
        }
        let highest = layout.scan().expect("scan");
        assert_eq!(highest.get(&0), Some(&150));
        assert_eq!(highest.get(&1), Some(&9));
        std::fs::create_dir_all(layout.tmp_dir()).expect("mkdir");
        std::fs::write(layout.tmp_dir().join(tmp_name(0, 151)), b"x").expect("write");
        std::fs::write(layout.tmp_dir().join(tmp_name(1, 10)), b"x").expect("write");
        assert_eq!(layout.remove_tmp(&[0]).expect("remove"), 1);
        assert_eq!(
            std::fs::read_dir(layout.tmp_dir()).expect("read").count(),
            1
        );
    }
}
