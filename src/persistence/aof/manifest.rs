//! The AOF manifest: the small text file in `appenddirname` that lists the files making up
//! the append-only file, in Redis 7.0's syntax.
//!
//! One line per file, `file <name> seq <n> type <b|h|i>`: the base (`b`, at most one), history
//! files awaiting deletion (`h`) and the incremental files (`i`, strictly increasing `seq`,
//! replayed in order after the base). Names that need it are quoted the way Redis's
//! `sdscatrepr` quotes and read back with `sdssplitargs` rules, so a manifest written by
//! either server is read by the other. The same error strings as Redis's
//! `aofLoadManifestFromFile` are used, since operators search for them.

use crate::protocol::parser::split_args;
use std::fmt::Write as _;

/// Longest manifest line Redis accepts (its MANIFEST_MAX_LINE).
const MAX_LINE: usize = 1024;

/// What a listed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Base,
    History,
    Incr,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    pub name: String,
    pub seq: i64,
    pub kind: FileType,
}

/// The parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    pub incr: Vec<AofInfo>,
    pub history: Vec<AofInfo>,
    /// Sequence numbers last used for each kind (new files take the next one).
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
}

impl Manifest {
    /// Parses manifest text; errors carry Redis's message.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut max_incr = 0i64;
        let mut lines = 0usize;
        for raw in text.split_inclusive(|&b| b == b'\n') {
            if raw.len() > MAX_LINE && !(raw.len() == MAX_LINE + 1 && raw.ends_with(b"\n")) {
                return Err("The AOF manifest file contains too long line".into());
            }
            if raw.first() == Some(&b'#') {
                continue;
            }
            let line = trim(raw);
            if line.is_empty() {
                return Err("Invalid AOF manifest file format".into());
            }
            let argv = split_args(line).ok_or("Invalid AOF manifest file format")?;
            if argv.len() < 6 || argv.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, 0i64, 0u8);
            for pair in argv.chunks(2) {
                match pair[0].as_slice() {
                    b"file" => name = Some(pair[1].clone()),
                    b"seq" => seq = crate::util::atoi(&pair[1]),
                    b"type" => kind = pair[1].first().copied().unwrap_or(0),
                    // Unknown keys are skipped: later versions may add some.
                    _ => {}
                }
            }
            let Some(name) = name else {
                return Err("Invalid AOF manifest file format".into());
            };
            if seq == 0 || kind == 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let name = String::from_utf8(name)
                .map_err(|_| "Invalid AOF manifest file format".to_string())?;
            // A name is resolved inside appenddirname: never let it reach outside.
            if name.contains('/') || name == "." || name == ".." {
                return Err("File can't be a path, just a filename".into());
            }
            lines += 1;
            match kind {
                b'b' => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.curr_base_seq = seq;
                    m.base = Some(AofInfo {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                }
                b'h' => m.history.push(AofInfo {
                    name,
                    seq,
                    kind: FileType::History,
                }),
                b'i' => {
                    if seq <= max_incr {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    max_incr = seq;
                    m.curr_incr_seq = seq;
                    m.incr.push(AofInfo {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                }
                _ => return Err("Unknown AOF file type".into()),
            }
        }
        if lines == 0 {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest text: base, then history, then incremental files (Redis's order).
    pub fn format(&self) -> String {
        let mut s = String::new();
        for ai in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
        {
            let name = if needs_repr(ai.name.as_bytes()) {
                format!("\"{}\"", crate::executor::repr(ai.name.as_bytes()))
            } else {
                ai.name.clone()
            };
            let _ = writeln!(s, "file {} seq {} type {}", name, ai.seq, ai.kind.letter());
        }
        s
    }

    /// Whether no file is listed (besides history).
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// Adds a new base `<prefix>.<seq>.base.<ext>`, moving the previous base to history.
    pub fn new_base(&mut self, prefix: &str, rdb: bool) -> String {
        self.curr_base_seq += 1;
        let name = format!(
            "{prefix}.{}.base.{}",
            self.curr_base_seq,
            if rdb { "rdb" } else { "aof" }
        );
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.push(old);
        }
        self.base = Some(AofInfo {
            name: name.clone(),
            seq: self.curr_base_seq,
            kind: FileType::Base,
        });
        name
    }

    /// The last incremental file, creating its entry (`<prefix>.<seq>.incr.aof`) if none.
    pub fn last_incr(&mut self, prefix: &str) -> String {
        if let Some(ai) = self.incr.last() {
            return ai.name.clone();
        }
        self.curr_incr_seq += 1;
        let name = format!("{prefix}.{}.incr.aof", self.curr_incr_seq);
        self.incr.push(AofInfo {
            name: name.clone(),
            seq: self.curr_incr_seq,
            kind: FileType::Incr,
        });
        name
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

/// Redis's `sdsneedsrepr`.
fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 7 | 8 | b' ')
            || !(0x20..=0x7e).contains(&c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_redis_syntax() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let m = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incr.len(), 1);
        assert_eq!(m.curr_incr_seq, 1);
        assert_eq!(m.format(), text);
    }

    #[test]
    fn quoted_names_and_unknown_keys() {
        let m = Manifest {
            base: Some(AofInfo {
                name: "my file.aof".into(),
                seq: 2,
                kind: FileType::Base,
            }),
            ..Default::default()
        };
        let text = m.format();
        assert_eq!(text, "file \"my file.aof\" seq 2 type b\n");
        let back = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(back.base, m.base);
        let m = Manifest::parse(b"# comment\nfile a seq 3 type i extra x\n").unwrap();
        assert_eq!(m.incr[0].seq, 3);
    }

    #[test]
    fn errors_match_redis() {
        let err = |t: &str| Manifest::parse(t.as_bytes()).unwrap_err();
        assert_eq!(err(""), "Found an empty AOF manifest");
        assert_eq!(err("file a seq 1\n"), "Invalid AOF manifest file format");
        assert_eq!(err("\n"), "Invalid AOF manifest file format");
        assert_eq!(
            err("file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(
            err("file a seq 2 type i\nfile b seq 1 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(err("file a seq 1 type x\n"), "Unknown AOF file type");
        assert_eq!(
            err("file ../a seq 1 type b\n"),
            "File can't be a path, just a filename"
        );
        let long = format!("file {} seq 1 type b\n", "a".repeat(1100));
        assert_eq!(err(&long), "The AOF manifest file contains too long line");
    }

    #[test]
    fn new_files_take_the_next_sequence() {
        let mut m = Manifest::default();
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(m.last_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
        assert_eq!(m.last_incr("appendonly.aof"), "appendonly.aof.1.incr.aof");
        assert_eq!(
            m.new_base("appendonly.aof", false),
            "appendonly.aof.2.base.aof"
        );
        assert_eq!(m.history.len(), 1);
    }
}
