//! Link options for the `shoal` binary.
//!
//! The binary is a position-independent executable with about 250,000
//! relative relocations (DataFusion's function tables and documentation are
//! mostly pointers). Stored as RELR (`-z pack-relative-relocs`, glibc 2.36
//! and binutils 2.38 or later) they take a few kilobytes instead of six
//! megabytes that the loader reads at every start, which shortens every
//! process start, a leaf's restart included.

//!
//! A binary with RELR runs only on glibc 2.36 or later, so the option is
//! used only when building for the machine itself and its glibc has it
//! (`getconf GNU_LIBC_VERSION`); elsewhere the binary is linked as before.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if native && linux_gnu && glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc is `major.minor` or later.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&output.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let found = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    found >= (major, minor)
}
