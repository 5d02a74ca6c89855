//! A counting global allocator: the measurement behind INFO's `used_memory`.
//!
//! Redis reports the bytes its allocator handed out (zmalloc keeps a counter), and
//! `maxmemory` eviction, INFO memory and MEMORY STATS all build on that one number. Estimating
//! it by walking the keyspace would be slow and would miss buffers, so instead the server
//! binary installs `CountingAlloc` as its `#[global_allocator]`: a thin wrapper around the
//! system allocator that adds and subtracts each block's size in one relaxed atomic. Relaxed
//! is enough: the counter is a statistic, not a synchronization point, and on x86 a relaxed
//! `fetch_add` is a single locked add.
//!
//! The library does not install it (tests link the library with the default allocator), so
//! `allocated()` is 0 unless `is_counting()`; callers fall back to an estimate then.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);
static STARTUP: AtomicUsize = AtomicUsize::new(0);

/// The system allocator plus a byte counter.
pub struct CountingAlloc;

impl CountingAlloc {
    #[inline]
    fn add(n: usize) {
        ALLOCATED.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    fn sub(n: usize) {
        ALLOCATED.fetch_sub(n, Ordering::Relaxed);
    }
}

// # Safety
// Every method forwards to `System` with the caller's own arguments, so `CountingAlloc`
// upholds exactly the `GlobalAlloc` contract that `System` does; the counter updates touch
// no memory the allocator hands out.
unsafe impl GlobalAlloc for CountingAlloc {
    /// # Safety
    /// Same contract as `GlobalAlloc::alloc`; forwarded unchanged to `System`.
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller guarantees `layout` has a non-zero size, as `System` requires.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::add(layout.size());
        }
        p
    }

    /// # Safety
    /// Same contract as `GlobalAlloc::alloc_zeroed`; forwarded unchanged to `System`.
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::add(layout.size());
        }
        p
    }

    /// # Safety
    /// Same contract as `GlobalAlloc::dealloc`: `ptr` came from this allocator with `layout`.
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: every block this allocator returns came from `System` with the same
        // layout, so handing it back to `System` is what the caller's contract allows.
        unsafe { System.dealloc(ptr, layout) };
        Self::sub(layout.size());
    }

    /// # Safety
    /// Same contract as `GlobalAlloc::realloc`: `ptr` came from this allocator with `layout`
    /// and `new_size` is non-zero and does not overflow when rounded to the alignment.
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` describe a live `System` block (see `dealloc`), and the
        // caller guarantees `new_size` is valid for `layout.align()`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // On failure the old block is untouched and still counted.
            Self::add(new_size);
            Self::sub(layout.size());
        }
        p
    }
}

impl CountingAlloc {
    /// Marks the allocator as installed; call once from `main` before anything else.
    pub fn start(&self) {
        COUNTING.store(true, Ordering::Relaxed);
    }
}

/// Whether the process runs with `CountingAlloc` installed (the server binary does).
pub fn is_counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// Bytes currently allocated through the global allocator (0 when not counting).
pub fn allocated() -> usize {
    if is_counting() {
        ALLOCATED.load(Ordering::Relaxed)
    } else {
        0
    }
}

/// Records the current allocation level as the baseline after startup
/// (INFO `used_memory_startup`). Later calls are ignored.
pub fn mark_startup() {
    let _ = STARTUP.compare_exchange(0, allocated().max(1), Ordering::Relaxed, Ordering::Relaxed);
}

/// The baseline recorded by `mark_startup`, or 0.
pub fn startup() -> usize {
    STARTUP.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_alloc_and_free() {
        // Exercise the allocator directly: the test binary does not install it globally.
        let a = CountingAlloc;
        let before = ALLOCATED.load(Ordering::Relaxed);
        let layout = Layout::from_size_align(1000, 8).expect("valid layout");
        // SAFETY: non-zero size; the block is freed below with the same layout.
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null());
        assert_eq!(ALLOCATED.load(Ordering::Relaxed), before + 1000);
        // SAFETY: `p` came from `a.alloc(layout)`; 3000 is a valid size for align 8.
        let p = unsafe { a.realloc(p, layout, 3000) };
        assert!(!p.is_null());
        assert_eq!(ALLOCATED.load(Ordering::Relaxed), before + 3000);
        let layout = Layout::from_size_align(3000, 8).expect("valid layout");
        // SAFETY: `p` is the live block from `realloc`, now of `layout`.
        unsafe { a.dealloc(p, layout) };
        assert_eq!(ALLOCATED.load(Ordering::Relaxed), before);
    }
}
