//! Build script: declares the `loom` cfg so `--cfg loom` model-check builds are not flagged as
//! an unexpected cfg. It must never generate code or probe the host.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
