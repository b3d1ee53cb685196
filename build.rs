//! Link options for the `shoal` binary.
//!
//! The binary is a position-independent executable with about 250,000
//! relative relocations (DataFusion's function tables and documentation are
//! mostly pointers). Stored as RELR (`-z pack-relative-relocs`, glibc 2.36
//! and binutils 2.38 or later) they take a few kilobytes instead of six
//! megabytes that the loader reads at every start, which shortens every
//! process start, a leaf's restart included.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
