//! Cache hints for data that crosses threads.
//!
//! Bars go from the feed's thread to the agents' and records from there to
//! the FMEL writer's, in buffers that come back to be filled again. A line
//! last read on another core costs its next writer a wait for the line to
//! come over, and a reader the same for a line last written elsewhere:
//! asking for it a step ahead hides the wait. Hints read and write no
//! memory and cannot fault, so any address will do.

/// Asks the CPU to load `count` values from `start` on.
#[inline]
pub fn for_read<T>(start: *const T, count: usize) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, count);
    #[cfg(target_arch = "x86_64")]
    for offset in (0..count * std::mem::size_of::<T>()).step_by(64) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint (see the module's documentation).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(start.cast::<i8>().wrapping_add(offset)) }
    }
}

/// Asks the CPU to take the lines of `count` values from `start` on for
/// writing, where it has `prefetchw`.
#[inline]
pub fn for_write<T>(start: *const T, count: usize) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, count);
    #[cfg(target_arch = "x86_64")]
    if *HAS_PREFETCHW {
        for offset in (0..count * std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch is a hint (see the module's documentation),
            // and the CPU has this one.
            unsafe {
                std::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) start.cast::<u8>().wrapping_add(offset),
                    options(nostack, preserves_flags, readonly)
                );
            }
        }
    }
}

/// Whether the CPU has `prefetchw` (CPUID leaf 0x8000_0001, ECX bit 8),
/// which the standard library can neither detect nor enable yet.
#[cfg(target_arch = "x86_64")]
static HAS_PREFETCHW: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::arch::x86_64::__cpuid(0x8000_0001).ecx & (1 << 8) != 0);
