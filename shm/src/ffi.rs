//! C ABI (placeholder while writing).
