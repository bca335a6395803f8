//! Reading another process's memory: `/proc/PID/mem` opened once per
//! process and read at any address with `pread`, so a read costs one system
//! call and no ptrace stop. Reading needs the same rights as ptrace
//! (root, or CAP_SYS_PTRACE).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// An open handle on one process's address space.
#[derive(Debug)]
pub struct ProcessMemory {
    pid: u32,
    file: File,
}

impl ProcessMemory {
    /// Opens process `pid`'s memory.
    pub fn open(pid: u32) -> io::Result<Self> {
        let file = File::open(format!("/proc/{pid}/mem"))?;
        Ok(Self { pid, file })
    }

    /// The process this handle reads.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fills `buf` from `addr`; an address range not wholly mapped is an
    /// error, never a short read taken for data.
    pub fn read_exact(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, addr)
    }

    /// `len` bytes from `addr`.
    pub fn read_vec(&self, addr: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.read_exact(addr, &mut buf)?;
        Ok(buf)
    }

    /// The little-endian u64 at `addr`.
    pub fn read_u64(&self, addr: u64) -> io::Result<u64> {
        let mut buf = [0; 8];
        self.read_exact(addr, &mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    /// The little-endian u32 at `addr`.
    pub fn read_u32(&self, addr: u64) -> io::Result<u32> {
        let mut buf = [0; 4];
        self.read_exact(addr, &mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    /// The little-endian u16 at `addr`.
    pub fn read_u16(&self, addr: u64) -> io::Result<u16> {
        let mut buf = [0; 2];
        self.read_exact(addr, &mut buf)?;
        Ok(u16::from_le_bytes(buf))
    }

    /// The NUL-terminated string at `addr`, at most `max` bytes; `None`
    /// when no NUL comes within `max` bytes. Reads in small steps so a
    /// string near the end of a mapping is still read.
    pub fn read_c_string(&self, addr: u64, max: usize) -> io::Result<Option<Vec<u8>>> {
        const STEP: usize = 64;
        let mut out = Vec::new();
        let mut chunk = [0u8; STEP];
        while out.len() < max {
            let at = addr + out.len() as u64;
            // Never read across a page boundary in one step: the next page
            // may be unmapped while the string ends before it.
            let to_page_end = (4096 - (at % 4096)) as usize;
            let n = STEP.min(to_page_end).min(max - out.len());
            self.read_exact(at, &mut chunk[..n])?;
            if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok(Some(out));
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_refuses_unmapped_addresses() {
        let value: u64 = 0x1122_3344_5566_7788;
        let text = b"augur\0tail";
        let me = ProcessMemory::open(std::process::id()).unwrap();
        assert_eq!(me.read_u64(&value as *const u64 as u64).unwrap(), value);
        assert_eq!(
            me.read_u32(&value as *const u64 as u64).unwrap(),
            0x5566_7788
        );
        let s = me.read_c_string(text.as_ptr() as u64, 64).unwrap();
        assert_eq!(s.as_deref(), Some(&b"augur"[..]));
        assert_eq!(me.read_c_string(text.as_ptr() as u64, 3).unwrap(), None);
        // Page zero is never mapped.
        assert!(me.read_u64(8).is_err());
    }
}
