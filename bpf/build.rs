//! Compiles the BPF programs in `src/bpf/` with clang through libbpf-cargo and
//! generates their Rust skeletons into `OUT_DIR`.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const PROGRAMS: &[&str] = &["sampler", "offcpu", "memory", "growth"];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let include = manifest_dir.join("include");
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("no vmlinux.h for target architecture {other}"),
        Err(e) => panic!("CARGO_CFG_TARGET_ARCH: {e}"),
    };

    for name in PROGRAMS {
        let source = manifest_dir.join("src/bpf").join(format!("{name}.bpf.c"));
        let skeleton = out_dir.join(format!("{name}.skel.rs"));
        SkeletonBuilder::new()
            .source(&source)
            .clang_args([
                "-I".into(),
                include.clone().into_os_string(),
                "-Wall".into(),
                "-Werror".into(),
                format!("-D__TARGET_ARCH_{arch}").into(),
            ])
            .build_and_generate(&skeleton)
            .unwrap_or_else(|e| panic!("building BPF program {name}: {e:#}"));
        println!("cargo:rerun-if-changed={}", source.display());
    }
    println!("cargo:rerun-if-changed=src/bpf/sampler.h");
    println!("cargo:rerun-if-changed=src/bpf/stacks.h");
    println!("cargo:rerun-if-changed=src/bpf/fp_walk.h");
    println!("cargo:rerun-if-changed=src/bpf/unwind.h");
    println!("cargo:rerun-if-changed=src/bpf/py_walk.h");
    println!("cargo:rerun-if-changed=src/bpf/walks.h");
    println!("cargo:rerun-if-changed=include/vmlinux.h");
}
