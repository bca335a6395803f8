//! The agent's side: a validated batch encoded for the wire, interning
//! binaries and processes, and compressed into a push payload.

use std::collections::BTreeMap;
use std::sync::Arc;

use augur_profile::{FileId, RawFrame};
use prost::Message;

use super::ValidBatch;
use crate::ingest::{Batch, frame};

/// Encodes and compresses a batch for [`crate::ingest::PushRequest::payload`].
pub fn compress(batch: &Batch, level: i32) -> std::io::Result<Vec<u8>> {
    zstd::bulk::compress(&batch.encode_to_vec(), level)
}

/// Encodes a validated batch for the wire, interning binaries and processes.
pub fn to_wire(batch: &ValidBatch) -> Batch {
    use std::collections::HashMap;

    use crate::ingest::{Binary, Frame, KernelFrame, Process, Sample, UserFrame};

    let binary_index: HashMap<&FileId, u32> = batch
        .binaries
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id, i as u32))
        .collect();
    let mut binaries: Vec<Binary> = batch
        .binaries
        .iter()
        .map(|(id, path)| Binary {
            build_id: id.as_bytes().to_vec(),
            path: path.clone(),
        })
        .collect();
    let mut extra_binaries: HashMap<FileId, u32> = HashMap::new();
    let mut processes: Vec<Process> = Vec::new();
    let mut process_index: HashMap<*const BTreeMap<String, String>, u32> = HashMap::new();
    let mut samples = Vec::with_capacity(batch.samples.len());
    for sample in &batch.samples {
        let process = *process_index
            .entry(Arc::as_ptr(&sample.labels))
            .or_insert_with(|| {
                processes.push(Process {
                    pid: 0,
                    labels: sample
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
                processes.len() as u32 - 1
            });
        let frames = sample
            .frames
            .iter()
            .map(|frame| Frame {
                kind: Some(match frame {
                    RawFrame::User {
                        build_id,
                        file_offset,
                    } => {
                        let binary = match binary_index.get(build_id) {
                            Some(&i) => i,
                            None => *extra_binaries.entry(build_id.clone()).or_insert_with(|| {
                                binaries.push(Binary {
                                    build_id: build_id.as_bytes().to_vec(),
                                    path: String::new(),
                                });
                                binaries.len() as u32 - 1
                            }),
                        };
                        frame::Kind::User(UserFrame {
                            binary,
                            file_offset: *file_offset,
                        })
                    }
                    RawFrame::Kernel { function, module } => frame::Kind::Kernel(KernelFrame {
                        function: function.clone(),
                        module: module.clone().unwrap_or_default(),
                    }),
                    RawFrame::Unknown { reason } => frame::Kind::Unknown(reason.clone()),
                    RawFrame::Named { function, origin } => {
                        frame::Kind::Named(crate::ingest::NamedFrame {
                            function: function.clone(),
                            origin: origin.clone(),
                        })
                    }
                    RawFrame::Runtime {
                        runtime,
                        function,
                        file,
                        line,
                        inlined,
                    } => frame::Kind::Runtime(crate::ingest::RuntimeFrame {
                        runtime: runtime.as_str().to_owned(),
                        function: function.clone(),
                        file: file.clone(),
                        line: *line,
                        inlined: *inlined,
                    }),
                }),
            })
            .collect();
        samples.push(Sample {
            process,
            frames,
            count: sample.count,
        });
    }
    Batch {
        host: batch.host.clone(),
        start_unix_nanos: batch.start_unix_nanos,
        end_unix_nanos: batch.end_unix_nanos,
        profile_type: batch.profile_type.name.clone(),
        unit: batch.profile_type.unit.clone(),
        period: batch.period,
        binaries,
        processes,
        samples,
        dropped: batch.dropped.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    }
}
