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
//! 3. adopt file descriptors a child inherited from the supervisor at a known number.
//!
//! Every `unsafe` block carries a `// SAFETY:` comment; the cross-process tests in
//! `proto/tests/shm_processes.rs` exercise writers and readers killed mid-operation.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU64;

use memmap2::MmapRaw;

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
    #[error("mapping shared memory: {source}")]
    Map { source: std::io::Error },
    #[error("inherited fd {fd} is not usable: {source}")]
    InheritedFd { fd: RawFd, source: std::io::Error },
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
        // Seal the size, and seal the seals: no process (buggy or not) can shrink the segment
        // under the others' mappings (their next access would be SIGBUS), nor add a seal such
        // as FUTURE_WRITE that would stop a restarted stage from mapping it writable.
        let seals = rustix::fs::SealFlags::SHRINK
            | rustix::fs::SealFlags::GROW
            | rustix::fs::SealFlags::SEAL;
        rustix::fs::fcntl_add_seals(&fd, seals).map_err(|e| ShmError::Resize {
            len,
            source: e.into(),
        })?;
        Self::map(fd)
    }

    /// Attaches to a segment whose fd this process inherited as `fd`, checking that it is at
    /// least `min_len` bytes long.
    pub fn from_inherited_fd(fd: RawFd, min_len: usize) -> Result<Self, ShmError> {
        let owned =
            adopt_inherited_fd(fd).map_err(|source| ShmError::InheritedFd { fd, source })?;
        let stat = rustix::fs::fstat(&owned).map_err(|e| ShmError::InheritedFd {
            fd,
            source: e.into(),
        })?;
        if (stat.st_size as u64) < min_len as u64 {
            return Err(ShmError::TooSmall {
                actual: stat.st_size as u64,
                expected: min_len,
            });
        }
        Self::map(owned)
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
        // size is sealed (`create`), so no process can truncate the pages away. The mapping is
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

/// Takes ownership of a descriptor this process inherited at the number `fd`.
///
/// Fails (instead of adopting) when the number is not an open descriptor, so a stage started
/// by hand without the supervisor gets a clear error rather than undefined behaviour.
pub fn adopt_inherited_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    if fd < 3 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "fds 0-2 are stdio, not inherited endpoints",
        ));
    }
    // Check the number refers to an open descriptor before claiming it.
    // SAFETY: the borrow is used only for the fcntl query below and does not outlive this
    // statement; a closed number makes fcntl fail with EBADF, which we report.
    let flags = rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) });
    flags.map_err(std::io::Error::from)?;
    // SAFETY: the supervisor places each endpoint at a fixed descriptor number (see
    // `stage::InheritedFds`), the fcntl above proved it is open, and this is the only place
    // in the process that adopts that number (the caller adopts each number once at start-up),
    // so the `OwnedFd` is the unique owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn adopting_a_closed_fd_fails_cleanly() {
        assert!(adopt_inherited_fd(987).is_err());
        assert!(adopt_inherited_fd(1).is_err());
    }
}
