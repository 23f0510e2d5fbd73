//! Confining a thread to some CPUs (`sched_setaffinity`), so that a run can
//! make threads outnumber CPUs whatever the machine has.

#![allow(unsafe_code)]

/// Confine the calling thread to `cpus` (no-op for `None`, or where the
/// system refuses: the run then uses every CPU, as it would anyway on a
/// machine with no more CPUs than listed).
pub fn confine(cpus: Option<&[usize]>) {
    let Some(cpus) = cpus else { return };
    // SAFETY: `cpu_set_t` is plain data, valid all-zero (the empty set).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let capacity = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &cpu in cpus.iter().filter(|&&cpu| cpu < capacity) {
        // SAFETY: CPU_SET writes one bit inside `set`; `cpu` is below the
        // set's capacity (filtered above).
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: pid 0 is the calling thread; `set` lives across the call and
    // its size is passed with it.
    let _ = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// How many CPUs the calling thread may run on.
#[must_use]
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
