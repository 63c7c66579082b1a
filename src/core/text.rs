//! Small text helpers that keep `core::fmt`, `str::parse` and the substring
//! searchers out of the wasm build.
//!
//! `format!`, `{}` of an integer, `str::parse` and `str::contains(&str)` each
//! pull kilobytes of generic machinery (formatter, padding, panic messages,
//! the Two-Way searcher) into the `.wasm`. The core only ever needs to join
//! strings, print non-negative integers in decimal, read plain decimal digits
//! and replace a literal, so it does that here, by hand, in one place. Every
//! helper is total: it never panics, whatever the input.

/// Joins `parts` into one new string, sized once.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Appends `value` in decimal, exactly as `format!("{value}")` writes it.
pub(crate) fn push_decimal(out: &mut String, value: u64) {
    // The largest power of ten not above `value` (1 for 0): no overflow, as
    // `divisor * 10 <= value` holds whenever the loop multiplies.
    let mut divisor = 1_u64;
    while value / divisor >= 10 {
        divisor *= 10;
    }
    loop {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        if divisor == 1 {
            break;
        }
        divisor /= 10;
    }
}

/// `value` in decimal, exactly as `value.to_string()` writes it.
pub(crate) fn decimal(value: u64) -> String {
    let mut out = String::new();
    push_decimal(&mut out, value);
    out
}

/// Reads an unsigned decimal number as `str::parse::<u64>` does: an optional
/// leading `+`, then one or more ASCII digits (leading zeros allowed).
/// Anything else, or a value above `u64::MAX`, is `None`.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    let mut value = 0_u64;
    for byte in digits.bytes() {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}

/// Replaces every non-overlapping occurrence of `needle`, left to right, with
/// `with`, as `str::replace` does; `None` when `needle` does not occur (or is
/// empty), so the caller keeps its string.
pub(crate) fn replace_all(text: &str, needle: &str, with: &str) -> Option<String> {
    let (haystack, wanted) = (text.as_bytes(), needle.as_bytes());
    if wanted.is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(window) = haystack.get(at..at + wanted.len()) {
        if window == wanted {
            // A match of valid UTF-8 in valid UTF-8 starts and ends on char
            // boundaries, so these `get`s always succeed.
            out.push_str(text.get(copied..at).unwrap_or_default());
            out.push_str(with);
            at += wanted.len();
            copied = at;
        } else {
            at += 1;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Some(out)
}

/// The pieces of `text` between `separator` bytes, as `str::split` with that
/// (ASCII) char yields them, without the char searcher behind `str::split`.
pub(crate) fn split_ascii(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    core::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|byte| byte == separator) {
            // An ASCII separator sits on char boundaries, so both `get`s succeed.
            Some(at) => {
                rest = current.get(at + 1..);
                current.get(..at)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// `text` without leading and trailing whitespace, as `str::trim` (Unicode
/// `White_Space`) cuts it, in one forward pass: `str::trim` also links the
/// backward UTF-8 decoder.
pub(crate) fn trim(text: &str) -> &str {
    let mut kept: Option<(usize, usize)> = None;
    for (at, c) in text.char_indices() {
        if !c.is_whitespace() {
            let start = kept.map_or(at, |(start, _)| start);
            kept = Some((start, at + c.len_utf8()));
        }
    }
    kept.and_then(|(start, end)| text.get(start..end))
        .unwrap_or_default()
}

/// `text` without trailing `byte`s (an ASCII one), as `str::trim_end_matches`
/// with that char cuts it.
pub(crate) fn trim_end_ascii(text: &str, byte: u8) -> &str {
    let trailing = text.bytes().rev().take_while(|&b| b == byte).count();
    text.get(..text.len() - trailing).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_display() {
        for value in [
            0,
            1,
            9,
            10,
            99,
            100,
            429,
            10_000,
            600_000,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(decimal(value), value.to_string());
        }
        let mut out = String::from("x:");
        push_decimal(&mut out, 8787);
        assert_eq!(out, "x:8787");
    }

    #[test]
    fn concat_joins_in_order() {
        assert_eq!(concat(&[]), "");
        assert_eq!(concat(&["a", "", "bc", "d"]), "abcd");
    }

    #[test]
    fn parse_decimal_matches_str_parse() {
        for text in [
            "",
            "0",
            "007",
            "+7",
            "+",
            "++7",
            "-7",
            "-0",
            " 7",
            "7 ",
            "1.5",
            "1e3",
            "12a",
            "٣",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "000000000000000000000000018446744073709551615",
        ] {
            assert_eq!(parse_decimal(text), text.parse::<u64>().ok(), "{text:?}");
        }
    }

    #[test]
    fn split_ascii_matches_str_split() {
        for text in [
            "",
            ".",
            "..",
            "a",
            "a.b",
            ".a.",
            "127.0.0.1",
            "é.ü..",
            "08:49:37",
        ] {
            for separator in [b'.', b':'] {
                assert_eq!(
                    split_ascii(text, separator).collect::<Vec<_>>(),
                    text.split(char::from(separator)).collect::<Vec<_>>(),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn trims_match_str_trims() {
        for text in [
            "",
            " ",
            "a",
            " a ",
            "\t120\r\n",
            "\u{3000}120\u{a0}",
            "\u{2028} é x\u{85}",
            "x\u{200b}",
            "//",
            "/a//",
            "/é/",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
            assert_eq!(
                trim_end_ascii(text, b'/'),
                text.trim_end_matches('/'),
                "{text:?}"
            );
        }
    }

    #[test]
    fn replace_all_matches_str_replace() {
        for (text, needle) in [
            ("abc", "b"),
            ("aaaa", "aa"),
            ("aaa", "aa"),
            ("xyz", "q"),
            ("", "q"),
            ("q", "q"),
            ("qq", "q"),
            ("éxé", "é"),
            ("a\u{e9}b", "\u{e9}b"),
            ("tok tok", "tok"),
            ("abc", "abcd"),
        ] {
            let expected = text
                .contains(needle)
                .then(|| text.replace(needle, "[redacted]"));
            assert_eq!(
                replace_all(text, needle, "[redacted]"),
                expected,
                "{text:?} {needle:?}"
            );
        }
        assert_eq!(replace_all("abc", "", "x"), None);
    }
}
