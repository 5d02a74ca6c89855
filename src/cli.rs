//! The `ferrodis-server` command line, shaped like `redis-server`'s:
//!
//! ```text
//! ferrodis-server [CONFIG_FILE] [--directive arg ...] [-]
//! ferrodis-server -v | --version
//! ferrodis-server -h | --help
//! ```
//!
//! clap handles the fixed flags (`-v`/`--version`, `-h`/`--help`, recognized as the first
//! argument only, as in Redis) and hands the rest over untouched. The rest follows
//! redis-server's rule: a first argument not starting with `-` is the config file; `-` as
//! the first or last argument reads config text from stdin; every `--name a b` becomes
//! the config line `name a b`, appended after the file's (and stdin's) lines, so the
//! command line wins. A directive takes the arguments up to the next `--name`, which
//! therefore works for every directive of the table without listing any here. The
//! behaviour never depends on argv[0], so a symlink named `redis-server` works the same.
//!
//! Then, in Redis's order: load the config (a bad line prints Redis's FATAL CONFIG FILE
//! ERROR and exits 1), chdir to `dir`, daemonize if asked (fork before the tokio runtime
//! exists; the parent exits 0), start logging, and run the server.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use clap::{value_parser, Arg, ArgAction, Command};

use crate::config::{Config, ConfigError};

/// Where Redis writes its pid when daemonized without a `pidfile`.
const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

/// What the arguments after the fixed flags ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The config file, made absolute (CONFIG REWRITE writes it back there).
    pub config_file: Option<PathBuf>,
    /// `-` was given: read config text from stdin after the file.
    pub stdin: bool,
    /// The `--directive` overrides as config text.
    pub options: Vec<u8>,
}

fn command() -> Command {
    Command::new("ferrodis-server")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("args")
                .num_args(0..)
                .allow_hyphen_values(true)
                .trailing_var_arg(true)
                .value_parser(value_parser!(OsString)),
        )
}

/// The `--version` line, in redis-server's format (tools parse `v=`).
pub fn version_line() -> String {
    format!(
        "Redis server v={} sha=00000000:0 malloc=libc bits={} build=0 ferrodis={}",
        crate::REDIS_VERSION,
        usize::BITS,
        crate::VERSION
    )
}

const USAGE: &str = "\
Usage: ./ferrodis-server [/path/to/redis.conf] [options] [-]
       ./ferrodis-server - (read config from stdin)
       ./ferrodis-server -v or --version
       ./ferrodis-server -h or --help

Examples:
       ./ferrodis-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./ferrodis-server -
       ./ferrodis-server /etc/redis/6379.conf
       ./ferrodis-server --port 7777
       ./ferrodis-server --port 7777 --replicaof 127.0.0.1 8888
       ./ferrodis-server /etc/myredis.conf --loglevel verbose -
       ./ferrodis-server /etc/myredis.conf --loglevel verbose
       ./ferrodis-server /etc/myredis.toml --port 7777
";

/// Turns the arguments (after argv[0] and the fixed flags) into an `Invocation`, exactly
/// as redis-server's main() does.
pub fn parse_args(args: &[OsString], cwd: &Path) -> Invocation {
    let mut inv = Invocation {
        config_file: None,
        stdin: false,
        options: Vec::new(),
    };
    let mut i = 0;
    if let Some(first) = args.first() {
        if !first.as_bytes().starts_with(b"-") {
            inv.config_file = Some(absolute(cwd, Path::new(first)));
            i = 1;
        }
    }
    // False right after an option name: the next argument is its value even if it starts
    // with "--".
    let mut handled_last = true;
    while i < args.len() {
        let a = args[i].as_bytes();
        let last = i + 1 == args.len();
        if a == b"-" && (i == 0 || last) {
            inv.stdin = true;
        } else if handled_last && a.starts_with(b"--") {
            if !inv.options.is_empty() {
                inv.options.push(b'\n');
            }
            inv.options.extend_from_slice(&a[2..]);
            inv.options.push(b' ');
            let words = crate::protocol::parser::split_args(a).map_or(0, |v| v.len());
            if words == 1 {
                handled_last = false;
                // `--save` followed by another option (or nothing) means `save ""`, for
                // command lines generated from an empty list (Redis 7.0 compatibility).
                if a.eq_ignore_ascii_case(b"--save") {
                    let next_is_option = !last && args[i + 1].as_bytes().starts_with(b"--");
                    if next_is_option || last {
                        inv.options.extend_from_slice(b"\"\"");
                        handled_last = next_is_option;
                    }
                }
            } else {
                // "--port 6380" as one argument carries its own value.
                handled_last = true;
            }
        } else {
            inv.options.push(b'"');
            inv.options
                .extend_from_slice(crate::executor::repr(a).as_bytes());
            inv.options.extend_from_slice(b"\" ");
            handled_last = true;
        }
        i += 1;
    }
    inv
}

/// Redis's getAbsolutePath: `p` against `cwd`, with `.` and `..` removed lexically.
fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let mut out = cwd.to_path_buf();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Prints a line in the log format before logging is set up (Redis logs these with the
/// role letter of a not-yet-initialized server).
fn early_log(msg: &str) {
    println!(
        "{}:C {} # {}",
        std::process::id(),
        crate::server::log::timestamp(),
        msg
    );
}

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let matches = match command().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if matches.get_flag("version") {
        println!("{}", version_line());
        return 0;
    }
    if matches.get_flag("help") {
        eprint!("{USAGE}");
        return 1;
    }
    let args: Vec<OsString> = matches
        .get_many::<OsString>("args")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let inv = parse_args(&args, &cwd);

    let stdin_text = if inv.stdin {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            early_log(&format!("Fatal error reading the config from stdin: {e}"));
            return 1;
        }
        Some(buf)
    } else {
        None
    };

    let mut cfg = Config::default();
    if let Err(e) = crate::config::load(
        &mut cfg,
        inv.config_file.as_deref(),
        stdin_text.as_deref(),
        &inv.options,
    ) {
        match e {
            ConfigError::Open { .. } => early_log(&e.report()),
            _ => eprint!("{}", e.report()),
        }
        return 1;
    }

    // Redis chdirs while reading `dir`; the loader only validated it.
    if let Err(e) = std::env::set_current_dir(&cfg.dir) {
        eprint!(
            "{}",
            ConfigError::General(format!(
                "Can't chdir to '{}': {}",
                cfg.dir,
                crate::config::table::strerror(&e)
            ))
            .report()
        );
        return 1;
    }
    if let Ok(d) = std::env::current_dir() {
        cfg.dir = d.to_string_lossy().into_owned();
    }

    if cfg.daemonize {
        match daemonize() {
            Ok(true) => return 0,
            Ok(false) => {}
            Err(e) => {
                eprintln!("Failed to daemonize: {e}");
                return 1;
            }
        }
        if cfg.pidfile.is_empty() {
            cfg.pidfile = DEFAULT_PIDFILE.to_string();
        }
    }

    if let Err(e) = crate::server::log::init(cfg.loglevel, &cfg.logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    // (The "Redis is starting" banner is the server's, logged once it is listening.)
    if inv.stdin {
        tracing::warn!("Reading config from stdin");
    }
    if args.is_empty() {
        tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use {} /path/to/redis.conf",
            argv.first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
    } else {
        tracing::warn!("Configuration loaded");
    }

    match crate::server::run(cfg, inv.config_file) {
        Ok(code) => code,
        Err(e) => {
            tracing::warn!("{}", e);
            1
        }
    }
}

/// Redis's daemonize(): fork, the parent exits 0 (Ok(true) here), the child starts a new
/// session and points stdin/stdout/stderr at /dev/null. Must run before any thread
/// exists: the tokio runtime is created afterwards.
#[allow(unsafe_code)]
fn daemonize() -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: no other thread exists yet (no runtime, no logger), so the child is a
    // complete copy of this single-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(true);
    }
    // SAFETY: plain system calls on this process; setsid only fails if we already lead a
    // process group, which a fresh child never does.
    unsafe {
        libc::setsid();
    }
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors with a valid open descriptor; Rust's
        // std handles keep using fds 0-2, now backed by /dev/null.
        unsafe {
            libc::dup2(null.as_raw_fd(), fd);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str]) -> Invocation {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse_args(&args, Path::new("/work"))
    }

    fn opts(args: &[&str]) -> String {
        String::from_utf8(inv(args).options).unwrap()
    }

    #[test]
    fn config_file_and_options() {
        let i = inv(&[
            "redis.conf",
            "--port",
            "7000",
            "--save",
            "60",
            "1",
            "--loglevel",
            "verbose",
        ]);
        assert_eq!(i.config_file, Some(PathBuf::from("/work/redis.conf")));
        assert!(!i.stdin);
        assert_eq!(
            String::from_utf8(i.options).unwrap(),
            "port \"7000\" \nsave \"60\" \"1\" \nloglevel \"verbose\" "
        );
        assert_eq!(
            inv(&["../etc/r.conf"]).config_file,
            Some(PathBuf::from("/etc/r.conf"))
        );
    }

    #[test]
    fn stdin_dash() {
        assert!(inv(&["-"]).stdin);
        assert!(inv(&["a.conf", "--port", "1", "-"]).stdin);
        assert!(inv(&["-", "--port", "1"]).stdin);
        assert_eq!(inv(&["-", "--port", "1"]).config_file, None);
    }

    #[test]
    fn values_may_start_with_dashes() {
        assert_eq!(opts(&["--requirepass", "--x"]), "requirepass \"--x\" ");
        assert_eq!(opts(&["--port 7000"]), "port 7000 ");
        assert_eq!(
            opts(&["--requirepass", "a\"b\n"]),
            "requirepass \"a\\\"b\\n\" "
        );
    }

    #[test]
    fn empty_save() {
        assert_eq!(opts(&["--save"]), "save \"\"");
        assert_eq!(
            opts(&["--save", "--loglevel", "verbose"]),
            "save \"\"\nloglevel \"verbose\" "
        );
    }

    #[test]
    fn fixed_flags_only_first() {
        let m = command()
            .try_get_matches_from(["x", "--port", "1", "--version"])
            .unwrap();
        assert!(!m.get_flag("version"));
        let m = command().try_get_matches_from(["x", "-v"]).unwrap();
        assert!(m.get_flag("version"));
        let m = command().try_get_matches_from(["x", "--help"]).unwrap();
        assert!(m.get_flag("help"));
    }
}
