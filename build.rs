//! Build script placeholder; the bindgen step lands with the sys layer.
fn main() {}
