//! Debug files shared through ClickHouse: one node's upload, in chunks of
//! a `debuginfo` table, is every node's.

use std::path::Path;

use augur_profile::FileId;
use serde::Deserialize;

use super::client::quote;
use super::store::ClickHouseStore;
use crate::error::StorageError;

/// Bytes of a debug file per row of the `debuginfo` table.
const DEBUGINFO_CHUNK: usize = 1 << 20;

impl ClickHouseStore {
    /// Stores a debug file for every node; see [`crate::Storage::share_debuginfo`].
    pub(super) fn upload_debuginfo(
        &self,
        build_id: &FileId,
        file: &Path,
    ) -> Result<bool, StorageError> {
        use std::io::Read;

        let io = |e: std::io::Error| StorageError::ClickHouse {
            operation: "share debug info",
            message: format!("reading {}: {e}", file.display()),
            transient: false,
        };
        let mut source = std::fs::File::open(file).map_err(io)?;
        let hex = build_id.to_hex();
        let mut buffer = vec![0u8; DEBUGINFO_CHUNK];
        let mut chunk = 0u32;
        loop {
            let mut filled = 0;
            while filled < buffer.len() {
                let n = source.read(&mut buffer[filled..]).map_err(io)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 && chunk > 0 {
                break;
            }
            // Hex keeps arbitrary bytes safe in JSON rows.
            let data: String = buffer[..filled]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            self.client.insert(
                "share debug info",
                &self.table("debuginfo"),
                &[serde_json::json!({"build_id": hex, "chunk": chunk, "data": data})],
            )?;
            chunk += 1;
            if filled < buffer.len() {
                break;
            }
        }
        Ok(true)
    }

    /// Copies a shared debug file; see [`crate::Storage::fetch_debuginfo`].
    pub(super) fn download_debuginfo(
        &self,
        build_id: &FileId,
        dest: &Path,
    ) -> Result<bool, StorageError> {
        use std::io::Write;

        #[derive(Deserialize)]
        struct Chunk {
            chunk: u32,
            data: String,
        }
        let chunks: Vec<Chunk> = self.client.select(
            "fetch debug info",
            &format!(
                "SELECT chunk, any(data) AS data FROM {} WHERE build_id = {}
                 GROUP BY chunk ORDER BY chunk",
                self.table("debuginfo"),
                quote(&build_id.to_hex())
            ),
        )?;
        if chunks.is_empty()
            || chunks
                .iter()
                .enumerate()
                .any(|(i, c)| c.chunk as usize != i)
        {
            // Nothing, or an upload still being shared: not yet.
            return Ok(false);
        }
        let io = |e: std::io::Error| StorageError::ClickHouse {
            operation: "fetch debug info",
            message: format!("writing {}: {e}", dest.display()),
            transient: false,
        };
        let temp = dest.with_extension("fetch.tmp");
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut out = std::fs::File::create(&temp).map_err(io)?;
        for c in &chunks {
            let bytes: Option<Vec<u8>> = (0..c.data.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(c.data.get(i..i + 2)?, 16).ok())
                .collect();
            let bytes = bytes.ok_or_else(|| StorageError::Corrupt {
                what: format!("debug info chunk {} of {build_id} is not hex", c.chunk),
            })?;
            out.write_all(&bytes).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        std::fs::rename(&temp, dest).map_err(io)?;
        Ok(true)
    }
}
