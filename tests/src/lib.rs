//! Shared modules for the cross-crate tests.
