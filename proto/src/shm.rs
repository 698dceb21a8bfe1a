//! The one module of ledfx-rs that contains `unsafe` code.
//!
//! It does three small things that safe Rust cannot express, and everything else (the
//! seqlock frame slots, heartbeats, the segment layout) is built on top of it in safe code:
//!
//! 1. map an anonymous memfd into the address space ([`SharedMemory`]), so that the supervisor
//!    and its children share frames without any name in `/dev/shm` that a crash could leave
//!    behind;
//! 2. hand out `&AtomicU64` views of 8-byte words inside that mapping, which is the only way
//!    the processes ever touch the shared bytes, so concurrent access is never a data race;
//! 3. turn the descriptor numbers a stage inherited from the supervisor into [`OwnedFd`]s,
//!    once per process (`adopt_inherited_fds`, called only by `stage::bootstrap`). Everything
//!    downstream (attaching the segment, the control socket, the HTTP listener) takes the
//!    `OwnedFd`, so no safe function can be handed a raw number and close it twice.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment; the cross-process tests in
//! `proto/tests/shm_processes.rs` exercise writers and readers killed mid-operation.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use memmap2::MmapRaw;
use rustix::fs::SealFlags;

/// The seals the mapping's safety argument relies on: the size can neither shrink (pages
/// would vanish under other processes' mappings: SIGBUS) nor grow, and no further seal (such
/// as `FUTURE_WRITE`, which would stop a restarted stage from mapping it writable) can be
/// added.
const REQUIRED_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// Errors from creating or attaching a shared-memory segment.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error("creating memfd {name:?}: {source}")]
    CreateMemfd {
        name: String,
        source: std::io::Error,
    },
    #[error("sizing shared memory to {len} bytes: {source}")]
    Resize { len: usize, source: std::io::Error },
    #[error("sealing shared memory: {source}")]
    Seal { source: std::io::Error },
    #[error("mapping shared memory: {source}")]
    Map { source: std::io::Error },
    #[error("inspecting the shared-memory descriptor: {source}")]
    Inspect { source: std::io::Error },
    #[error("duplicating the shared-memory descriptor: {source}")]
    Duplicate { source: std::io::Error },
    #[error(
        "shared memory is not sealed against {missing}: a segment whose size another process \
         can change cannot be mapped safely (expected a memfd sealed SHRINK | GROW | SEAL)"
    )]
    MissingSeals { missing: String },
    #[error("inherited shared memory is {actual} bytes, expected at least {expected}")]
    TooSmall { actual: u64, expected: usize },
}

/// A shared, anonymous memory segment (memfd + shared mapping).
///
/// The segment has no name in any filesystem: it disappears when the last process holding
/// the fd or the mapping exits, however it exits.
pub struct SharedMemory {
    map: MmapRaw,
    fd: OwnedFd,
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory")
            .field("len", &self.map.len())
            .finish()
    }
}

impl SharedMemory {
    /// Creates a zero-filled segment of `len` bytes. The fd is close-on-exec; children get it
    /// only through an explicit fd mapping at spawn time.
    pub fn create(name: &str, len: usize) -> Result<Self, ShmError> {
        let flags = rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING;
        let fd = rustix::fs::memfd_create(name, flags).map_err(|e| ShmError::CreateMemfd {
            name: name.to_owned(),
            source: e.into(),
        })?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(|e| ShmError::Resize {
            len,
            source: e.into(),
        })?;
        // Seal the size, and seal the seals (see `REQUIRED_SEALS`).
        rustix::fs::fcntl_add_seals(&fd, REQUIRED_SEALS)
            .map_err(|e| ShmError::Seal { source: e.into() })?;
        Self::map(fd)
    }

    /// Attaches to the segment behind `fd` (a stage's inherited memfd, or a duplicate),
    /// checking that it carries the seals the mapping relies on and is at least `min_len`
    /// bytes long.
    pub fn attach(fd: OwnedFd, min_len: usize) -> Result<Self, ShmError> {
        // A descriptor that is not a memfd (or one made without ALLOW_SEALING) fails here or
        // reports only SEAL; either way it is refused below.
        let seals =
            rustix::fs::fcntl_get_seals(&fd).map_err(|e| ShmError::Inspect { source: e.into() })?;
        let missing = REQUIRED_SEALS.difference(seals);
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter_names().map(|(name, _)| name).collect();
            return Err(ShmError::MissingSeals {
                missing: names.join(" | "),
            });
        }
        let stat = rustix::fs::fstat(&fd).map_err(|e| ShmError::Inspect { source: e.into() })?;
        if (stat.st_size as u64) < min_len as u64 {
            return Err(ShmError::TooSmall {
                actual: stat.st_size as u64,
                expected: min_len,
            });
        }
        Self::map(fd)
    }

    fn map(fd: OwnedFd) -> Result<Self, ShmError> {
        let file = File::from(fd);
        let map = MmapRaw::map_raw(&file).map_err(|source| ShmError::Map { source })?;
        Ok(Self {
            map,
            fd: file.into(),
        })
    }

    /// The memfd, for handing to a child process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the mapping is empty (never the case for a segment made by ledfx-rs).
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The 8-byte words `[offset, offset + 8 * count)` of the segment as atomics.
    ///
    /// # Panics
    /// If `offset` is not 8-byte aligned or the range lies outside the segment: both are
    /// programming errors in the fixed layout, caught by the layout tests.
    pub fn words(&self, offset: usize, count: usize) -> &[AtomicU64] {
        assert!(
            offset % 8 == 0,
            "shared-memory word offset {offset} is not 8-aligned"
        );
        let end = count
            .checked_mul(8)
            .and_then(|bytes| bytes.checked_add(offset))
            .expect("shared-memory range overflows usize");
        assert!(
            end <= self.map.len(),
            "shared-memory range {offset}..{end} outside segment of {} bytes",
            self.map.len()
        );
        if count == 0 {
            return &[];
        }
        // SAFETY: the range [offset, end) was checked to lie inside the mapping, which stays
        // mapped for as long as `self` (and so the returned borrow) lives, and the memfd's
        // size is sealed (by `create`; `attach` refuses a segment without the seals), so no
        // process can truncate the pages away. The mapping is
        // page-aligned and `offset` is a multiple of 8, so the pointer is aligned for
        // `AtomicU64`. `AtomicU64` has the same size and bit validity as `u64`, and every bit
        // pattern (including the memfd's initial zeros) is a valid `u64`. All processes access
        // these bytes only through atomic operations, so concurrent access from other
        // processes is not a data race. Shared references are sound because atomics permit
        // mutation through `&`.
        unsafe {
            let ptr = self.map.as_mut_ptr().add(offset).cast::<AtomicU64>();
            std::slice::from_raw_parts(ptr, count)
        }
    }
}

/// Descriptor numbers already turned into [`OwnedFd`]s by [`adopt_inherited_fds`].
static ADOPTED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Takes ownership of the descriptors this process inherited from the supervisor at the fixed
/// numbers `fds`, all or none.
///
/// Only `stage::bootstrap` calls this, once, first thing in a stage. A number is refused (and
/// nothing is adopted) when it is stdio, listed twice, not an open descriptor (a stage started
/// by hand without the supervisor gets this clear error instead of undefined behaviour), marked
/// close-on-exec (so it was opened by this process, not inherited), or already adopted.
pub(crate) fn adopt_inherited_fds(fds: &[RawFd]) -> std::io::Result<Vec<OwnedFd>> {
    use std::io::{Error, ErrorKind};
    // Held throughout, so two concurrent calls cannot both pass the checks for one number.
    let mut adopted = ADOPTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for (i, &fd) in fds.iter().enumerate() {
        if fd < 3 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("fd {fd} is stdio, not an inherited endpoint"),
            ));
        }
        if fds[..i].contains(&fd) || adopted.contains(&fd) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("fd {fd} is already adopted"),
            ));
        }
        // SAFETY: the borrow is used only for this fcntl query and does not outlive the
        // statement; a closed number makes fcntl fail with EBADF, which we report.
        let flags = rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) })
            .map_err(|e| Error::new(e.kind(), format!("fd {fd} is not open: {e}")))?;
        if flags.contains(rustix::io::FdFlags::CLOEXEC) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("fd {fd} is close-on-exec, so it was not inherited from the supervisor"),
            ));
        }
    }
    let owned: Vec<OwnedFd> = fds
        .iter()
        .map(|&fd| {
            // SAFETY: `fd` is open (checked above) and owned by nothing in this process.
            // Descriptors this process opens are close-on-exec (std, rustix's `open`/`socket`/
            // `memfd_create` and tokio all set the flag, and `bootstrap` calls this before the
            // stage opens anything else), while this one is not: it came through exec from the
            // supervisor, which places each endpoint at its fixed number (`stage::CONTROL_FD`,
            // …) for this process alone. `ADOPTED`, checked and updated under one lock,
            // guarantees no number is converted twice, and no other code in the project makes
            // an `OwnedFd` from a raw number, so the returned `OwnedFd` is the unique owner.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect();
    adopted.extend_from_slice(fds);
    for fd in &owned {
        // Ours now: make sure it does not leak into anything this process might exec. A
        // failure only means the flag stays unset, which is harmless, so it is ignored.
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;

    #[test]
    fn words_are_shared_between_two_mappings_of_one_memfd() {
        let a = SharedMemory::create("ledfx-rs-test", 4096).unwrap();
        let dup = a.fd().try_clone_to_owned().unwrap();
        let b = SharedMemory::map(dup).unwrap();
        a.words(8, 1)[0].store(0xdead_beef, Ordering::Release);
        assert_eq!(b.words(8, 1)[0].load(Ordering::Acquire), 0xdead_beef);
        assert_eq!(
            b.words(0, 1)[0].load(Ordering::Acquire),
            0,
            "memfd starts zeroed"
        );
    }

    #[test]
    #[should_panic(expected = "not 8-aligned")]
    fn misaligned_offset_is_rejected() {
        let a = SharedMemory::create("ledfx-rs-test", 4096).unwrap();
        let _ = a.words(4, 1);
    }

    #[test]
    #[should_panic(expected = "outside segment")]
    fn out_of_range_is_rejected() {
        let a = SharedMemory::create("ledfx-rs-test", 4096).unwrap();
        let _ = a.words(4088, 2);
    }

    /// A memfd of `len` bytes with the given seals (none when `seals` is empty).
    fn memfd(len: u64, seals: SealFlags) -> OwnedFd {
        let flags = rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING;
        let fd = rustix::fs::memfd_create("ledfx-rs-test", flags).unwrap();
        rustix::fs::ftruncate(&fd, len).unwrap();
        if !seals.is_empty() {
            rustix::fs::fcntl_add_seals(&fd, seals).unwrap();
        }
        fd
    }

    #[test]
    fn attaching_checks_seals_and_size() {
        let missing = |fd: OwnedFd| match SharedMemory::attach(fd, 4096) {
            Err(ShmError::MissingSeals { missing }) => missing,
            other => panic!("expected MissingSeals, got {other:?}"),
        };
        let unsealed = missing(memfd(4096, SealFlags::empty()));
        for seal in ["SHRINK", "GROW", "SEAL"] {
            assert!(unsealed.contains(seal), "{unsealed}");
        }
        // Sealing the size is not enough: without SEAL a later FUTURE_WRITE could be added.
        let size_only = missing(memfd(4096, SealFlags::SHRINK | SealFlags::GROW));
        assert_eq!(size_only, "SEAL");
        // A plain file cannot be sealed at all.
        let file = File::open("/proc/self/exe").unwrap();
        assert!(matches!(
            SharedMemory::attach(file.into(), 1),
            Err(ShmError::Inspect { .. })
        ));
        assert!(matches!(
            SharedMemory::attach(memfd(4096, REQUIRED_SEALS), 8192),
            Err(ShmError::TooSmall {
                actual: 4096,
                expected: 8192
            })
        ));
        let shm = SharedMemory::attach(memfd(4096, REQUIRED_SEALS), 4096).unwrap();
        assert_eq!(shm.len(), 4096);
    }

    #[test]
    fn created_segments_pass_the_attach_check() {
        let a = SharedMemory::create("ledfx-rs-test", 4096).unwrap();
        let b = SharedMemory::attach(a.fd().try_clone_to_owned().unwrap(), 4096).unwrap();
        a.words(16, 1)[0].store(7, Ordering::Release);
        assert_eq!(b.words(16, 1)[0].load(Ordering::Acquire), 7);
    }

    #[test]
    fn inherited_fds_are_adopted_once_and_only_when_inherited() {
        use std::os::fd::IntoRawFd;
        assert!(adopt_inherited_fds(&[987]).is_err(), "closed");
        assert!(adopt_inherited_fds(&[1]).is_err(), "stdio");
        // A descriptor this process opened itself is close-on-exec: refused.
        let own = memfd(8, SealFlags::empty());
        let err = adopt_inherited_fds(&[own.as_raw_fd()]).unwrap_err();
        assert!(err.to_string().contains("close-on-exec"), "{err}");
        // `dup` makes a descriptor without CLOEXEC, as one inherited through exec is. Its
        // ownership is given up (`into_raw_fd`) before it is adopted, so the test itself
        // never owns one number twice.
        let raw = rustix::io::dup(&own).unwrap().into_raw_fd();
        assert!(adopt_inherited_fds(&[raw, raw]).is_err(), "listed twice");
        let adopted = adopt_inherited_fds(&[raw]).unwrap();
        assert_eq!(adopted[0].as_raw_fd(), raw);
        let flags = rustix::io::fcntl_getfd(&adopted[0]).unwrap();
        assert!(
            flags.contains(rustix::io::FdFlags::CLOEXEC),
            "ours now: close-on-exec"
        );
        // Adopting the same number again would create a second owner: refused.
        let err = adopt_inherited_fds(&[raw]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    }
}
