//! The kernel's octal escapes, decoded once for every file that uses them.
//!
//! Why: /proc/self/mountinfo and /proc/swaps print each path with
//! `\OOO` (three octal digits) in place of the bytes that would break the
//! line format (space, tab, newline, backslash; a FUSE source may carry
//! others such as `\303\251`), and every other byte raw, which need not
//! be UTF-8. Decoding bytes to an `OsString` keeps such paths exact.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Decode every `\NNN` octal escape of `field` (NNN ≤ 377); anything
/// else, a lone backslash included, is kept as it is.
pub fn unescape_octal(field: &[u8]) -> OsString {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' {
            if let Some(v) = field.get(i + 1..i + 4).and_then(octal_byte) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// Three octal digits as one byte (None for non-digits or above \377).
fn octal_byte(d: &[u8]) -> Option<u8> {
    if !d.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    let v = d.iter().fold(0u16, |acc, c| acc * 8 + u16::from(c - b'0'));
    u8::try_from(v).ok()
}

/// [`unescape_octal`] as text (non-UTF-8 bytes replaced), for fields that
/// callers compare with strings: filesystem types, mount sources.
pub fn unescape_lossy(field: &[u8]) -> String {
    unescape_octal(field).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn every_octal_escape_is_decoded() {
        assert_eq!(unescape_octal(br"/srv/my\040data"), "/srv/my data");
        assert_eq!(unescape_octal(br"a\011b\012c\134d"), "a\tb\nc\\d");
        assert_eq!(unescape_octal(br"/mnt/caf\303\251"), "/mnt/café");
        assert_eq!(unescape_octal(br"/mnt/end\040"), "/mnt/end ");
    }

    #[test]
    fn raw_bytes_and_non_escapes_are_kept() {
        assert_eq!(
            unescape_octal(b"/mnt/\xe9t\xe9").as_bytes(),
            b"/mnt/\xe9t\xe9"
        );
        assert_eq!(unescape_octal(br"/mnt/\377").as_bytes(), b"/mnt/\xff");
        assert_eq!(unescape_octal(br"a\400b"), r"a\400b");
        assert_eq!(unescape_octal(br"a\08b\1"), r"a\08b\1");
        assert_eq!(unescape_octal(br"tail\\"), r"tail\\");
        assert_eq!(unescape_lossy(br"x\040y"), "x y");
    }
}
