//! The manifest: which Parquet files hold a table's persisted rows, and from which WAL
//! generation on the log still has to be replayed.
//!
//! # Format (version 1)
//!
//! A text file `MANIFEST`, replaced atomically (temp file, fsync, rename, fsync the
//! directory), one entry per line:
//!
//! ```text
//! promodb-manifest 1
//! wal_checkpoint 7
//! next_file 12
//! file orders 8192 orders/date=2026-11-11/hour=00/0000000003.parquet
//! crc32c 1a2b3c4d
//! ```
//!
//! `wal_checkpoint` is the first WAL generation not covered by the files; `file` lines give
//! the table, the row count and the path relative to the database directory; the last line
//! is the CRC-32C of every byte before it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::crc::crc32c;
use super::disk::Disk;
use crate::error::{Error, Result};
use crate::schema::Table;

pub(crate) const MANIFEST: &str = "MANIFEST";
const FIRST_LINE: &str = "promodb-manifest 1";

/// One persisted Parquet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFile {
    pub(crate) table: Table,
    pub(crate) rows: usize,
    /// Relative to the database directory, with `/` separators.
    pub(crate) path: String,
}

/// The durable state of a database directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Manifest {
    pub(crate) wal_checkpoint: u64,
    pub(crate) next_file: u64,
    pub(crate) files: Vec<DataFile>,
}

impl Manifest {
    /// Rows of every table, by table.
    pub(crate) fn rows_by_table(&self) -> HashMap<Table, usize> {
        let mut rows = HashMap::new();
        for file in &self.files {
            *rows.entry(file.table).or_default() += file.rows;
        }
        rows
    }

    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST)
    }

    fn encode(&self) -> String {
        let mut text = format!(
            "{FIRST_LINE}\nwal_checkpoint {}\nnext_file {}\n",
            self.wal_checkpoint, self.next_file
        );
        for file in &self.files {
            let _ = writeln!(text, "file {} {} {}", file.table, file.rows, file.path);
        }
        let crc = crc32c(text.as_bytes());
        let _ = writeln!(text, "crc32c {crc:08x}");
        text
    }

    /// Replaces the manifest in `dir` with this one, atomically.
    pub(crate) fn store(&self, dir: &Path, disk: &Disk) -> Result<()> {
        disk.write_atomically(&Self::path(dir), self.encode().as_bytes())
    }

    /// Reads the manifest of `dir`; `None` if there is none.
    pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = Self::path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => Self::decode(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::corrupt(path, e.valid_up_to() as u64, "not UTF-8 text"))?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or_else(|| Error::corrupt(path, 0, "too short to be a manifest"))?;
        let (body, last) = text.split_at(body_end);
        let stored = last
            .trim_end()
            .strip_prefix("crc32c ")
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or_else(|| Error::corrupt(path, body_end as u64, "missing checksum line"))?;
        if crc32c(body.as_bytes()) != stored {
            return Err(Error::corrupt(path, 0, "checksum mismatch"));
        }
        let mut manifest = Manifest::default();
        let mut offset = 0u64;
        for (number, line) in body.lines().enumerate() {
            let bad =
                |what: &str| Error::corrupt(path, offset, &format!("line {}: {what}", number + 1));
            let mut words = line.split(' ');
            match (number, words.next()) {
                (0, _) if line == FIRST_LINE => {}
                (0, _) => return Err(bad("not a promodb manifest of version 1")),
                (_, Some("wal_checkpoint")) => {
                    manifest.wal_checkpoint =
                        parse_number(words.next()).ok_or_else(|| bad("bad wal_checkpoint"))?;
                }
                (_, Some("next_file")) => {
                    manifest.next_file =
                        parse_number(words.next()).ok_or_else(|| bad("bad next_file"))?;
                }
                (_, Some("file")) => {
                    let (Some(table), Some(rows), Some(file)) =
                        (words.next(), words.next(), words.next())
                    else {
                        return Err(bad("a file line needs a table, a row count and a path"));
                    };
                    manifest.files.push(DataFile {
                        table: table.parse().map_err(|_| bad("unknown table"))?,
                        rows: rows.parse().map_err(|_| bad("bad row count"))?,
                        path: file.to_string(),
                    });
                }
                _ => return Err(bad("unknown entry")),
            }
            offset += line.len() as u64 + 1;
        }
        Ok(manifest)
    }
}

fn parse_number(word: Option<&str>) -> Option<u64> {
    word?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            wal_checkpoint: 7,
            next_file: 3,
            files: vec![DataFile {
                table: Table::Orders,
                rows: 42,
                path: "orders/date=2026-11-11/hour=00/0000000001.parquet".to_string(),
            }],
        }
    }

    #[test]
    fn round_trips() {
        let text = sample().encode();
        let back = Manifest::decode(Path::new("MANIFEST"), text.as_bytes()).unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.rows_by_table()[&Table::Orders], 42);
    }

    #[test]
    fn a_changed_byte_is_corruption() {
        let mut text = sample().encode().into_bytes();
        text[40] ^= 1;
        let err = Manifest::decode(Path::new("MANIFEST"), &text).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
}
