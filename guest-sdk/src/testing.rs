//! Helpers for the SDK's own tests.

/// A small deterministic generator of random bits (xorshift): no
/// dependencies in the SDK.
pub fn random_bits() -> impl FnMut() -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
