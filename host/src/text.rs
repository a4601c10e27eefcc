//! Text helpers for data files and the FMEL writer.

/// Appends a few bytes, such as a number's digits, one at a time: a
/// `memcpy` call costs more than the loop for a handful of bytes, and a
/// record has a dozen such appends.
#[inline]
pub fn extend_small(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        out.push(byte);
    }
}

/// `text.trim()`, with a shortcut for the usual cell of a data file, which
/// starts and ends with a visible ASCII character: the replay trims every
/// cell, and `trim` decodes a character at each end to check it.
#[inline]
pub fn trim(text: &str) -> &str {
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        [only] if only.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trims_like_str_trim() {
        for text in ["", " ", "1", " 1", "1 ", "\t1.5\r", "a b", "\u{a0}7\u{a0}", "é", " é ", "x\u{2003}"] {
            assert_eq!(super::trim(text), text.trim(), "{text:?}");
        }
    }
}
