//! Loading configuration the way redis-server does (`loadServerConfig` and
//! `loadServerConfigFromString` in Redis's config.c).
//!
//! The config file's text, then stdin's (when the command line has `-`), then the command
//! line options (already turned into config lines by `cli`) are concatenated and read line
//! by line, so a later line overrides an earlier one. Each line is trimmed; blank lines and
//! lines starting with `#` are skipped; the rest is split into arguments with Redis's
//! quoting rules (`split_args`). The first argument, case-insensitively, names a directive
//! of the table, or one of the few directives that are not configs: `include` (reads
//! another file in place; relative paths resolve against the working directory, which
//! earlier `dir` lines change, exactly as Redis's chdir does; wildcards are expanded),
//! `rename-command`, `user`, `loadmodule`, `sentinel`.
//!
//! The first bad line stops the load with Redis's message, which `cli` prints to stderr
//! before exiting 1:
//!
//! ```text
//!
//! *** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***
//! Reading the configuration file, at line 2
//! >>> 'port "abc"'
//! argument couldn't be parsed into an integer
//! ```
//!
//! Loading has no side effects outside `Config`: `dir` is validated and recorded, and the
//! caller changes directory afterwards.

use std::path::{Path, PathBuf};

use crate::config::table::{self, SetCtx};
use crate::config::{tomlconf, Config};
use crate::protocol::parser::split_args;

/// Why a configuration could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A bad line: its number in the file it came from, its text, and what is wrong.
    Line {
        lineno: usize,
        line: String,
        msg: String,
    },
    /// A problem found after reading every line (e.g. the log file can't be opened).
    General(String),
    /// A config file (or an included one) can't be read. Redis logs this one instead of
    /// printing the FATAL banner.
    Open { path: String, err: String },
}

impl ConfigError {
    /// The text for stderr: Redis's FATAL CONFIG FILE ERROR banner, or for `Open` the log
    /// message (without the log line prefix).
    pub fn report(&self) -> String {
        let banner = format!(
            "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\n",
            crate::REDIS_VERSION
        );
        match self {
            ConfigError::Line { lineno, line, msg } => format!(
                "{banner}Reading the configuration file, at line {lineno}\n>>> '{line}'\n{msg}\n"
            ),
            ConfigError::General(msg) => format!("{banner}{msg}\n"),
            ConfigError::Open { path, err } => {
                format!("Fatal error, can't open config file '{path}': {err}")
            }
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report())
    }
}

impl std::error::Error for ConfigError {}

/// Loads configuration into `cfg` like redis-server: the file (redis.conf syntax, or TOML
/// when its name ends in `.toml`), then `stdin`'s text, then `options` (config lines built
/// from the command line), the last setting of a directive winning. Relative paths resolve
/// against the process's working directory.
pub fn load(
    cfg: &mut Config,
    file: Option<&Path>,
    stdin: Option<&[u8]>,
    options: &[u8],
) -> Result<(), ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut loader = Loader {
        cfg,
        ctx: SetCtx::loading(cwd),
        depth: 0,
    };
    let mut rest = Vec::new();
    let mut first_lineno = 0;
    if let Some(path) = file {
        let text = read(path)?;
        if crate::config::rewrite::is_toml(path) {
            loader.load_toml(&text)?;
            first_lineno = text.split(|&b| b == b'\n').count();
        } else {
            rest = text;
        }
    }
    if let Some(s) = stdin {
        rest.extend_from_slice(s);
    }
    rest.push(b'\n');
    rest.extend_from_slice(options);
    loader.load_text(&rest, first_lineno)?;
    loader.finish()
}

/// Loads configuration text only (redis.conf syntax); for tests and tools.
pub fn load_str(cfg: &mut Config, text: &str) -> Result<(), ConfigError> {
    load(cfg, None, Some(text.as_bytes()), b"")
}

/// Trims what Redis's `sdstrim(line, " \t\r\n")` trims.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    while s.first().is_some_and(ws) {
        s = &s[1..];
    }
    while s.last().is_some_and(ws) {
        s = &s[..s.len() - 1];
    }
    s
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::Open {
        path: path.display().to_string(),
        err: table::strerror(&e),
    })
}

/// Why one line failed: a message for that line, or an error from an included file
/// (which carries its own line).
enum Fail {
    Msg(String),
    Nested(ConfigError),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Msg(s)
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Fail {
        Fail::Msg(s.to_string())
    }
}

/// Deprecated directives Redis 7.0 still accepts and ignores: (name, min argc, max argc).
const DEPRECATED: &[(&str, usize, usize)] = &[
    ("list-max-ziplist-entries", 2, 2),
    ("list-max-ziplist-value", 2, 2),
    ("lua-replicate-commands", 2, 2),
];

/// Includes nest at most this deep (an include cycle would otherwise never end).
const MAX_INCLUDE_DEPTH: usize = 32;

struct Loader<'a> {
    cfg: &'a mut Config,
    ctx: SetCtx,
    depth: usize,
}

impl Loader<'_> {
    /// Reads redis.conf text; line numbers start after `first_lineno`.
    fn load_text(&mut self, text: &[u8], first_lineno: usize) -> Result<(), ConfigError> {
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = trim(raw);
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let fail = |msg: String| ConfigError::Line {
                lineno: first_lineno + i + 1,
                line: String::from_utf8_lossy(line).into_owned(),
                msg,
            };
            let Some(argv) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            };
            if argv.is_empty() {
                continue;
            }
            match self.apply(&argv) {
                Ok(()) => {}
                Err(Fail::Msg(m)) => return Err(fail(m)),
                Err(Fail::Nested(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads a TOML config (see the mapping in `config`'s docs).
    fn load_toml(&mut self, text: &[u8]) -> Result<(), ConfigError> {
        let text = String::from_utf8_lossy(text);
        for l in tomlconf::to_lines(&text)? {
            match self.apply(&l.argv) {
                Ok(()) => {}
                Err(Fail::Msg(msg)) => {
                    return Err(ConfigError::Line {
                        lineno: l.lineno,
                        line: l.text,
                        msg,
                    })
                }
                Err(Fail::Nested(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Applies one config line (`argv[0]` is the directive).
    fn apply(&mut self, argv: &[Vec<u8>]) -> Result<(), Fail> {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let args: Vec<String> = argv[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(d) = table::lookup(name.as_bytes()) {
            if !d.multi_arg() && args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            // Like Redis 7, a multi-argument directive given one non-empty argument is split
            // on spaces, so `--save "3600 1 300 100"` or `--client-output-buffer-limit
            // "pubsub 1mb 0 0"` work on the command line.
            if d.multi_arg() && args.len() == 1 && !args[0].is_empty() {
                let split: Vec<String> = args[0].split(' ').map(str::to_string).collect();
                return Ok(table::set(d, self.cfg, &split, &mut self.ctx)?);
            }
            return Ok(table::set(d, self.cfg, &args, &mut self.ctx)?);
        }
        let argc = argv.len();
        if DEPRECATED
            .iter()
            .any(|&(n, lo, hi)| n == name && (lo..=hi).contains(&argc))
        {
            return Ok(());
        }
        match name.as_str() {
            "include" if argc == 2 => self.include(&args[0]).map_err(Fail::Nested),
            "rename-command" if argc == 3 => {
                if crate::commands::lookup(args[0].as_bytes()).is_none() {
                    Err("No such command in rename-command".into())
                } else {
                    Err("rename-command is not supported by this server".into())
                }
            }
            "user" if argc >= 2 => check_user_line(&args),
            "loadmodule" if argc >= 2 => Err("Modules are not supported by this server".into()),
            "sentinel" => {
                if argc != 1 {
                    Err("sentinel directive while not in sentinel mode".into())
                } else {
                    Ok(())
                }
            }
            n if n.contains('.') => {
                if argc != 2 {
                    Err("Module config specified without value".into())
                } else {
                    Err("Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting".into())
                }
            }
            _ => Err("Bad directive or wrong number of arguments".into()),
        }
    }

    /// `include <path>`: reads the file (or each file matching a wildcard pattern, in
    /// sorted order; no match is not an error) in place.
    fn include(&mut self, path: &str) -> Result<(), ConfigError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::General(format!(
                "Too many nested include directives (including '{path}')"
            )));
        }
        let full = table::resolve(&self.ctx.cwd, path);
        let files = if path.contains(['*', '?', '[']) {
            glob_paths(&full)
        } else {
            vec![full]
        };
        self.depth += 1;
        let mut res = Ok(());
        for f in files {
            res = read(&f).and_then(|text| {
                if crate::config::rewrite::is_toml(&f) {
                    self.load_toml(&text)
                } else {
                    self.load_text(&text, 0)
                }
            });
            if res.is_err() {
                break;
            }
        }
        self.depth -= 1;
        res
    }

    /// Checks made once every line is read.
    fn finish(self) -> Result<(), ConfigError> {
        if !self.cfg.logfile.is_empty() {
            // Fail now rather than lose every log line later.
            let path = table::resolve(&self.ctx.cwd, &self.cfg.logfile);
            if let Err(e) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                return Err(ConfigError::General(format!(
                    "Can't open the log file: {}",
                    table::strerror(&e)
                )));
            }
        }
        if self.cfg.cluster_enabled && self.cfg.replicaof.is_some() {
            return Err(ConfigError::General(
                "replicaof directive not allowed in cluster mode".into(),
            ));
        }
        // hz is a hint: out-of-range values are accepted and clamped, as in Redis.
        self.cfg.hz = self.cfg.hz.clamp(1, 500);
        Ok(())
    }
}

/// ACL users are not implemented; the one `user` line accepted is an unrestricted
/// passwordless default user, the line Redis's own CONFIG REWRITE writes.
fn check_user_line(args: &[String]) -> Result<(), Fail> {
    const UNRESTRICTED: &[&str] = &[
        "on",
        "nopass",
        "~*",
        "&*",
        "+@all",
        "allkeys",
        "allchannels",
        "allcommands",
        "sanitize-payload",
        "skip-sanitize-payload",
    ];
    if args[0] == "default" && args[1..].iter().all(|a| UNRESTRICTED.contains(&a.as_str())) {
        return Ok(());
    }
    Err(format!(
        "Error in user declaration '{}': ACL users are not supported by this server",
        args[0]
    )
    .into())
}

/// Expands a path whose components may hold `*`, `?` or `[...]` like glob(3): matching
/// names in sorted order, hidden files only when the pattern starts with a dot.
fn glob_paths(pattern: &Path) -> Vec<PathBuf> {
    use std::path::Component;
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str().to_string_lossy().into_owned();
        let wild = matches!(comp, Component::Normal(_)) && part.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for base in &current {
            if !wild {
                next.push(base.join(comp.as_os_str()));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| crate::util::glob_match(part.as_bytes(), n.as_bytes(), false))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        current = next;
    }
    current.retain(|p| p.exists());
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        load_str(&mut c, text)?;
        Ok(c)
    }

    fn line_err(text: &str) -> (usize, String, String) {
        match load_text(text) {
            Err(ConfigError::Line { lineno, line, msg }) => (lineno, line, msg),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn syntax() {
        let c = load_text(
            "# comment\n  PORT 7000  \r\n\n\tmaxmemory 1Mb\nrequirepass \"a b\\x41\"\nbind 127.0.0.1 ::1\nsave \"\"\nsave 10 1 20 2\nsave 30 3\nappendonly yes\nmaxmemory-policy ALLKEYS-LRU\nslaveof 10.0.0.1 6380\nlist-max-ziplist-entries 5\n",
        )
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.maxmemory, 1 << 20);
        assert_eq!(c.requirepass, "a bA");
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.save, vec![(10, 1), (20, 2), (30, 3)]);
        assert!(c.appendonly);
        assert_eq!(c.maxmemory_policy, "allkeys-lru");
        assert_eq!(c.replicaof, Some(("10.0.0.1".into(), 6380)));
    }

    #[test]
    fn multi_arg_directive_given_as_one_argument() {
        let c =
            load_text("save \"3600 1 300 100\"\nclient-output-buffer-limit \"pubsub 1mb 0 0\"\n")
                .unwrap();
        assert_eq!(c.save, vec![(3600, 1), (300, 100)]);
        let c = load_text("save \"\"\n").unwrap();
        assert!(c.save.is_empty());
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(
            line_err("port 7101\nport \"abc\"\n"),
            (
                2,
                "port \"abc\"".into(),
                "argument couldn't be parsed into an integer".into()
            )
        );
        assert_eq!(
            line_err("foo bar").2,
            "Bad directive or wrong number of arguments"
        );
        assert_eq!(
            line_err("port 7100 \n  \n\tport 1 2\n"),
            (3, "port 1 2".into(), "wrong number of arguments".into())
        );
        assert_eq!(
            line_err("port \"abc").2,
            "Unbalanced quotes in configuration line"
        );
        assert_eq!(
            line_err("include").2,
            "Bad directive or wrong number of arguments"
        );
        assert_eq!(
            line_err("dir /nonexistent-ferrodis").2,
            "No such file or directory"
        );
        assert_eq!(line_err("dir /etc/passwd").2, "Not a directory");
        assert_eq!(
            line_err("sentinel foo").2,
            "sentinel directive while not in sentinel mode"
        );
        assert_eq!(
            line_err("rename-command NOSUCHCMD X").2,
            "No such command in rename-command"
        );
    }

    #[test]
    fn report_format() {
        let e = ConfigError::Line {
            lineno: 2,
            line: "port \"abc\"".into(),
            msg: "argument couldn't be parsed into an integer".into(),
        };
        assert_eq!(
            e.report(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'port \"abc\"'\nargument couldn't be parsed into an integer\n"
        );
    }

    #[test]
    fn options_are_appended_after_the_file() {
        // `--port abc` alone is line 2 of "" + "\n" + "port \"abc\" ", as in Redis.
        let mut c = Config::default();
        let e = load(&mut c, None, None, b"port \"abc\" ").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Line {
                lineno: 2,
                line: "port \"abc\"".into(),
                msg: "argument couldn't be parsed into an integer".into()
            }
        );
    }

    #[test]
    fn hz_is_clamped() {
        assert_eq!(load_text("hz 0").unwrap().hz, 1);
        assert_eq!(load_text("hz 100000").unwrap().hz, 500);
    }

    #[test]
    fn user_lines() {
        assert!(load_text("user default on nopass ~* &* +@all").is_ok());
        assert!(load_text("user alice on >pw ~* +@all").is_err());
    }

    #[test]
    fn logfile_must_open() {
        let mut c = Config::default();
        let e = load_str(&mut c, "logfile /nonexistent-ferrodis/x.log").unwrap_err();
        assert_eq!(
            e,
            ConfigError::General("Can't open the log file: No such file or directory".into())
        );
    }

    #[test]
    fn include_relative_to_dir_and_globs() {
        let base = std::env::temp_dir().join(format!("ferrodis-cfg-{}", std::process::id()));
        let conf_d = base.join("conf.d");
        std::fs::create_dir_all(&conf_d).unwrap();
        std::fs::write(conf_d.join("a.conf"), "maxclients 11\n").unwrap();
        std::fs::write(conf_d.join("b.conf"), "maxclients 12\ntimeout 5\n").unwrap();
        std::fs::write(base.join("one.conf"), "databases 3\n").unwrap();
        std::fs::write(base.join("bad.conf"), "\nbogus\n").unwrap();
        let text = format!(
            "dir {}\ninclude one.conf\ninclude conf.d/*.conf\ninclude nomatch/*.conf\n",
            base.display()
        );
        let c = load_text(&text).unwrap();
        assert_eq!(c.databases, 3);
        assert_eq!(c.maxclients, 12);
        assert_eq!(c.timeout, 5);
        // An error inside an include names the included file's line.
        let e = load_text(&format!("dir {}\ninclude bad.conf\n", base.display())).unwrap_err();
        assert!(matches!(e, ConfigError::Line { lineno: 2, .. }), "{e:?}");
        let e = load_text("include /nonexistent-ferrodis.conf").unwrap_err();
        assert!(matches!(e, ConfigError::Open { .. }));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
