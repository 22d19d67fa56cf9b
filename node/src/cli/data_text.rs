//! Znode data on the command line: read from an argument or stdin, printed so
//! that binary data cannot garble a terminal.
//!
//! Printing, as text: data that is valid UTF-8 without control characters
//! (tab and newline allowed) is printed unchanged; anything else is printed on
//! one line, escaped: `\\`, `\n`, `\t`, `\r`, `\xNN` for other ASCII control
//! bytes and for bytes that are not UTF-8, `\u{NNNN}` for other control
//! characters. `get --raw` writes the bytes exactly; in JSON, `data` holds
//! the text (null if not UTF-8) and `data_base64` always holds the bytes.

use std::borrow::Cow;
use std::io::Read;

use base64::Engine as _;

use super::failure::{CliResult, Failure};

/// Most bytes read from stdin (above any server's frame limit).
pub(crate) const STDIN_BYTES_MAX: u64 = 16 << 20;

/// The data an argument names: the argument's bytes, `-` for stdin, none for empty.
pub(crate) fn read_data(arg: Option<&str>) -> CliResult<Vec<u8>> {
    match arg {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut data = Vec::new();
            std::io::stdin()
                .lock()
                .take(STDIN_BYTES_MAX + 1)
                .read_to_end(&mut data)
                .map_err(|e| Failure::usage(format!("error: cannot read stdin: {e}")))?;
            if data.len() as u64 > STDIN_BYTES_MAX {
                return Err(Failure::usage(format!(
                    "error: stdin holds more than {STDIN_BYTES_MAX} bytes"
                )));
            }
            Ok(data)
        }
        Some(text) => Ok(text.as_bytes().to_vec()),
    }
}

/// Whether `data` prints as it is: UTF-8 without control characters but tab and newline.
pub(crate) fn is_printable(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|text| {
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    })
}

/// `data` as text: unchanged if printable, else escaped on one line (see the module docs).
pub(crate) fn data_text(data: &[u8]) -> Cow<'_, str> {
    if is_printable(data) {
        // is_printable checked it is UTF-8.
        return String::from_utf8_lossy(data);
    }
    let mut out = String::with_capacity(data.len() + 16);
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Cow::Owned(out)
}

/// `data` as JSON's `data` field: the text if UTF-8, else null.
pub(crate) fn data_utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `data` in standard base64, JSON's `data_base64` field.
pub(crate) fn data_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_unchanged() {
        assert_eq!(data_text(b"hello\tworld\nline 2"), "hello\tworld\nline 2");
        assert_eq!(data_text("h\u{e9}llo \\ ok".as_bytes()), "h\u{e9}llo \\ ok");
        assert_eq!(data_text(b""), "");
    }

    #[test]
    fn binary_and_control_characters_are_escaped_on_one_line() {
        assert_eq!(data_text(b"a\x1b[31mb\n"), "a\\x1b[31mb\\n");
        assert_eq!(data_text(b"\xff\x00\\"), "\\xff\\x00\\\\");
        assert_eq!(
            data_text("x\u{85}\u{e9}\r".as_bytes()),
            "x\\u{0085}\u{e9}\\r"
        );
        assert!(!data_text(b"\x00\n\x01").contains('\n'));
    }

    #[test]
    fn json_fields_keep_the_exact_bytes() {
        assert_eq!(data_utf8(b"abc"), Some("abc"));
        assert_eq!(data_utf8(b"\xff"), None);
        assert_eq!(data_base64(b"\xff\x00a"), "/wBh");
    }

    #[test]
    fn an_argument_is_taken_as_its_bytes() {
        assert_eq!(read_data(Some("v1")).unwrap(), b"v1");
        assert_eq!(read_data(None).unwrap(), b"");
    }
}
