//! Generates the Rust types of `proto/shoal.proto` with a vendored `protoc`,
//! so a fresh machine needs nothing installed to build Shoal.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/shoal.proto");
    // An ingest request's rows are shared, not copied, by each leaf it is
    // tried on, and read where they arrived.
    tonic_prost_build::configure()
        .bytes(".shoal.v1.IngestRequest.arrow_ipc")
        .compile_protos(&["proto/shoal.proto"], &["proto"])?;
    Ok(())
}
