//! Logging in Redis's line format: `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`,
//! where level is `.` debug, `-` verbose, `*` notice, `#` warning. Built on tracing:
//! DEBUG maps to debug, INFO to verbose... see `level_of`.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogLevel;

/// tracing level for each Redis level: warning=WARN, notice=INFO, verbose=DEBUG, debug=TRACE.
pub fn tracing_level(l: LogLevel) -> Level {
    match l {
        LogLevel::Warning => Level::WARN,
        LogLevel::Notice => Level::INFO,
        LogLevel::Verbose => Level::DEBUG,
        LogLevel::Debug => Level::TRACE,
    }
}

struct RedisFormat;

fn level_char(l: &Level) -> char {
    match *l {
        Level::ERROR | Level::WARN => '#',
        Level::INFO => '*',
        Level::DEBUG => '-',
        Level::TRACE => '.',
    }
}

/// Local time formatted as Redis does: `21 Nov 2026 10:00:00.123`.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let ms = now.subsec_millis();
    // SAFETY-free alternative to strftime: localtime_r fills a plain struct we own.
    let mut tm: libc::tm = unsafe_zeroed_tm();
    localtime(secs, &mut tm);
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MON[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ms
    )
}

fn unsafe_zeroed_tm() -> libc::tm {
    libc::tm {
        tm_sec: 0,
        tm_min: 0,
        tm_hour: 0,
        tm_mday: 0,
        tm_mon: 0,
        tm_year: 0,
        tm_wday: 0,
        tm_yday: 0,
        tm_isdst: 0,
        tm_gmtoff: 0,
        tm_zone: std::ptr::null(),
    }
}

#[allow(unsafe_code)]
fn localtime(secs: libc::time_t, tm: &mut libc::tm) {
    // # Safety
    // `localtime_r` is the re-entrant variant: it reads `secs` and writes only into `tm`,
    // both valid for the duration of the call.
    unsafe {
        libc::localtime_r(&secs, tm);
    }
}

/// The role letter of the log prefix: M master, S replica, C child, X sentinel.
pub static ROLE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(b'M');

impl<S, N> FormatEvent<S, N> for RedisFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let role = ROLE.load(std::sync::atomic::Ordering::Relaxed) as char;
        write!(
            writer,
            "{}:{} {} {} ",
            std::process::id(),
            role,
            timestamp(),
            level_char(event.metadata().level())
        )?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Where log lines go: stdout or an appended file (`logfile`).
struct LogTarget(Option<Mutex<std::fs::File>>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogTarget {
    type Writer = Box<dyn Write + 'a>;
    fn make_writer(&'a self) -> Self::Writer {
        match &self.0 {
            Some(f) => Box::new(LockedFile(f)),
            None => Box::new(std::io::stdout()),
        }
    }
}

struct LockedFile<'a>(&'a Mutex<std::fs::File>);

impl Write for LockedFile<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("log lock poisoned"))?
            .write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The verbosity in force, as `LogLevel as u8`; CONFIG SET loglevel changes it at runtime.
static LEVEL: std::sync::atomic::AtomicU8 =
    std::sync::atomic::AtomicU8::new(LogLevel::Notice as u8);

fn current_level() -> Level {
    let l = match LEVEL.load(std::sync::atomic::Ordering::Relaxed) {
        0 => LogLevel::Debug,
        1 => LogLevel::Verbose,
        2 => LogLevel::Notice,
        _ => LogLevel::Warning,
    };
    tracing_level(l)
}

/// Changes the verbosity of the installed logger (CONFIG SET loglevel).
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, std::sync::atomic::Ordering::Relaxed);
    // Callsites cache whether they are enabled; make them ask again.
    tracing::callsite::rebuild_interest_cache();
}

/// A layer that filters events by the runtime `LEVEL`. Disabled callsites stay free: the
/// layer reports the level as its max-level hint and callsites are re-evaluated on change.
struct DynLevel;

impl<S: Subscriber> tracing_subscriber::Layer<S> for DynLevel {
    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if *meta.level() <= current_level() {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        *meta.level() <= current_level()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(
            current_level(),
        ))
    }
}

/// Installs the global subscriber. `logfile` empty means stdout.
pub fn init(level: LogLevel, logfile: &str) -> std::io::Result<()> {
    let target = if logfile.is_empty() {
        LogTarget(None)
    } else {
        LogTarget(Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logfile)?,
        )))
    };
    LEVEL.store(level as u8, std::sync::atomic::Ordering::Relaxed);
    let sub = tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .event_format(RedisFormat)
            .with_writer(target)
            .finish(),
        DynLevel,
    );
    let _ = tracing::subscriber::set_global_default(sub);
    Ok(())
}
