//! The executor's clock: Unix time anchored to the wall clock once per batch and advanced
//! per command with a cheap monotonic counter.
//!
//! Every command needs "now" (expiry decisions) and its duration (commandstats, slowlog).
//! Reading the wall clock for each was ~5% of CPU at 1M commands/s on a VM, where
//! `clock_gettime` goes through the paravirtual clock. Instead the wall clock is read once
//! when a batch's input arrives (`anchor`), and each command's end is that anchor plus the
//! elapsed time from `quanta`'s TSC-based counter (`tick`, a few nanoseconds; quanta falls
//! back to the OS monotonic clock where the TSC is unusable). Within a batch, time therefore
//! advances exactly like the monotonic clock, and it is re-synchronised with the wall clock
//! at every batch and cron tick.

pub struct Clock {
    mono: quanta::Clock,
    /// Wall time (Unix µs) of the last anchor.
    anchor_wall_us: u64,
    /// Raw counter value at the last anchor.
    anchor_raw: u64,
    /// The latest reading (Unix µs); never decreases between anchors.
    now_us: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        let mono = quanta::Clock::new();
        let anchor_raw = mono.raw();
        let wall = crate::util::now_us();
        Clock {
            mono,
            anchor_wall_us: wall,
            anchor_raw,
            now_us: wall,
        }
    }

    /// Reads the wall clock and makes it the base for the following ticks.
    pub fn anchor(&mut self) -> u64 {
        self.anchor_raw = self.mono.raw();
        self.anchor_wall_us = crate::util::now_us();
        self.now_us = self.anchor_wall_us;
        self.now_us
    }

    /// Advances to the current time using the monotonic counter.
    pub fn tick(&mut self) -> u64 {
        let elapsed_ns = self.mono.delta_as_nanos(self.anchor_raw, self.mono.raw());
        self.now_us = self.now_us.max(self.anchor_wall_us + elapsed_ns / 1000);
        self.now_us
    }

    /// The latest reading, Unix µs.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_real_time_and_never_go_back() {
        let mut c = Clock::new();
        let a = c.anchor();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = c.tick();
        assert!(b >= a + 15_000, "{a} {b}");
        assert!(c.tick() >= b);
        let wall = crate::util::now_us();
        assert!(
            b.abs_diff(wall) < 50_000,
            "tick stays close to the wall clock"
        );
    }
}
