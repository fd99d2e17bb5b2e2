//! Process-wide settings a binary makes first, before it starts any thread: how it ends when
//! its reader stops early, and what the allocator does with freed memory.

/// Lets a reader that stops early (`fanbench | head`) end the program as it ends any Unix
/// tool, by SIGPIPE, instead of a panic in `println!` (Rust ignores SIGPIPE by default). Each
/// binary calls it first, before any thread starts; it does nothing off Linux.
pub fn default_sigpipe() {
    #[cfg(target_os = "linux")]
    // SAFETY: restores the signal's default action, before the caller starts any thread; no
    // handler of ours is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether the allocator is glibc's (the one [`keep_freed_memory`] acts on).
pub const GLIBC: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Freed memory stays in the process: glibc's trim threshold at 1 GiB and its mmap threshold
/// at 32 MiB, its largest (both fixed, so they no longer move as the process runs; the mmap
/// threshold must be set too: setting the trim threshold alone stops it at 128 KiB, and every
/// larger block would be mapped and unmapped on each use). Call it before any thread starts.
/// `false` when glibc refused a threshold, or off glibc (nothing is set).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets parameters of glibc's allocator; it takes the allocator's
    // lock itself, and the caller has started no thread yet.
    let kept = unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
            && libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
    };
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let kept = false;
    kept
}
