//! The testkit's one integration binary: fuzz seeds replayed, and the source tree's shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod architecture;
mod fuzz_seeds;
