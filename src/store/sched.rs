//! How the store's own threads ask the kernel to schedule them: the journal's syncs promptly, the
//! checkpoints last.

/// The time slice the threads that sync the journal ask for: the shortest Linux allows.
const PROMPT_SLICE_NS: u64 = 100_000;

/// Asks Linux to run the calling thread as soon as it wakes: a short time slice, which since Linux
/// 6.12 lets a waking thread preempt the one running (the custom slice of `sched_setattr`, which needs
/// no privilege; a kernel without custom slices schedules the thread as before, whether it ignores the
/// field or refuses the call). Done once per thread; the thread's policy and nice value are kept.
/// The thread is one of the runtime's blocking pool, and keeps the slice for whatever it runs later (a
/// DNS lookup, say): the same share of the CPU as before, taken in shorter turns.
///
/// The thread that syncs the journal wakes twice a sync (to write, then when the disk is done) and
/// runs for tens of microseconds each time. With the default slice it waited, after each wake, for the
/// runtime's worker to use up its own slice (about a millisecond) or run out of turns: the disk started
/// only then, and the core sat idle while it worked, every connection waiting for that sync (`perf
/// sched timehist`; the README's "Durability" has the figures).
pub(super) fn prompt_wakeups() {
    #[cfg(target_os = "linux")]
    {
        thread_local!(static ASKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if ASKED.replace(true) {
            return;
        }
        let Some(mut attr) = linux::attr() else {
            return;
        };
        if attr.policy != libc::SCHED_OTHER as u32 {
            return; // a real-time or idle policy the operator chose: left as it is
        }
        attr.runtime = PROMPT_SLICE_NS;
        if !linux::set(&attr) {
            tracing::debug!("the journal's sync thread keeps the default time slice");
        }
    }
}

/// The CPU time the calling thread has used (zero where the system does not say).
pub(super) fn thread_cpu() -> std::time::Duration {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec the call writes into.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
        }
    }
    std::time::Duration::ZERO
}

/// Puts the calling thread at the lowest scheduling priority (nice 19), where the system allows it.
pub(super) fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both calls only read their arguments; the thread id is the calling thread's own.
        let lowered = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
        };
        if lowered != 0 {
            tracing::debug!("the checkpoint's thread keeps its priority");
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    /// The kernel's `struct sched_attr`, in its first layout (`SCHED_ATTR_SIZE_VER0`, 48 bytes), which
    /// every kernel since 3.14 takes. `runtime` is a fair thread's slice since 6.12.
    #[repr(C)]
    #[derive(Default, Debug, Clone, Copy)]
    pub(super) struct SchedAttr {
        pub size: u32,
        pub policy: u32,
        pub flags: u64,
        pub nice: i32,
        pub priority: u32,
        pub runtime: u64,
        pub deadline: u64,
        pub period: u64,
    }

    const SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;

    /// The calling thread's scheduling attributes.
    pub(super) fn attr() -> Option<SchedAttr> {
        let mut attr = SchedAttr::default();
        // SAFETY: the kernel writes at most `SIZE` bytes into `attr`, which is that large; pid 0 is
        // the calling thread.
        let read = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut attr as *mut SchedAttr,
                SIZE,
                0,
            )
        };
        (read == 0).then_some(attr)
    }

    /// Sets the calling thread's scheduling attributes; whether the kernel took them.
    pub(super) fn set(attr: &SchedAttr) -> bool {
        let attr = SchedAttr {
            size: SIZE,
            // Flags read back (reset-on-fork, say) are not all ones a caller may set again.
            flags: 0,
            ..*attr
        };
        // SAFETY: the kernel reads `attr.size` bytes from a live `SchedAttr`; pid 0 is the calling
        // thread.
        unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) == 0 }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The kernel's version, as (major, minor).
    fn kernel() -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(['.', '-']);
        let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (next(), next())
    }

    /// The sync thread's slice is the short one where the kernel has custom slices, and its nice value
    /// and policy are what they were: only the slice changes.
    #[test]
    fn a_sync_thread_asks_for_a_short_slice_and_keeps_its_nice_value() {
        std::thread::spawn(|| {
            // SAFETY: raises the calling thread's own nice value, which needs no privilege.
            let niced = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as u32, 5) };
            assert_eq!(niced, 0);
            let before = linux::attr().expect("sched_getattr");
            prompt_wakeups();
            let after = linux::attr().expect("sched_getattr");
            assert_eq!(after.policy, before.policy);
            assert_eq!(after.nice, 5, "the nice value is kept");
            if kernel() >= (6, 12) {
                assert_eq!(after.runtime, PROMPT_SLICE_NS, "the slice: {after:?}");
            }
            // Once per thread: a slice changed since is not asked for again.
            let mut other = after;
            other.runtime = 2 * PROMPT_SLICE_NS;
            assert!(linux::set(&other));
            prompt_wakeups();
            let again = linux::attr().unwrap();
            if kernel() >= (6, 12) {
                assert_eq!(again.runtime, 2 * PROMPT_SLICE_NS);
            }
        })
        .join()
        .unwrap();
    }
}
