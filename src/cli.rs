//! The `ferrodis-server` command line, shaped like `redis-server`'s:
//! `ferrodis-server [CONFIG_FILE] [--directive arg ...]`, `-` reads the config from stdin.

use crate::config::Config;

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "Redis server v={} sha=00000000:0 malloc=libc bits=64 build=0 ferrodis={}",
            crate::REDIS_VERSION,
            crate::VERSION
        );
        return 0;
    }
    let mut cfg = Config::default();
    let mut i = 0;
    while i < args.len() {
        if let Some(name) = args[i].strip_prefix("--") {
            let v = args.get(i + 1).cloned().unwrap_or_default();
            if name == "port" {
                cfg.port = v.parse().unwrap_or(6379);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    let _ = crate::server::log::init(cfg.loglevel, &cfg.logfile);
    match crate::server::run(cfg, None) {
        Ok(code) => code,
        Err(e) => {
            tracing::warn!("{}", e);
            1
        }
    }
}
