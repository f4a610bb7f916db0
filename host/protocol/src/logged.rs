//! Values from outside — request parameters, a plugin's log messages — as they may appear in
//! a log line: control characters, line separators and bidirectional overrides escaped, so a
//! value can neither start a line of its own nor disguise one, and the length bounded, so a
//! huge value costs a few bytes of log.
//!
//! `tracing::info!(client_id = %logged(id), "...")` is the use.

use std::fmt::{self, Write as _};

/// How much of a request value is logged: a whole client identifier (at most
/// [`crate::model::MAX_CLIENT_ID_LEN`]) and no more.
pub const REQUEST_VALUE_CHARS: usize = 128;

/// A value made safe to log; see the module documentation.
#[derive(Clone, Copy)]
pub struct Logged<'a> {
    value: &'a str,
    max_chars: usize,
}

/// A request value, bounded to [`REQUEST_VALUE_CHARS`].
pub fn logged(value: &str) -> Logged<'_> {
    Logged::at_most(value, REQUEST_VALUE_CHARS)
}

impl<'a> Logged<'a> {
    /// `value`, cut after `max_chars` characters.
    pub fn at_most(value: &'a str, max_chars: usize) -> Self {
        Self { value, max_chars }
    }
}

/// Characters written as escapes (`\n`, `\u{202e}`): a backslash (so escapes are unambiguous),
/// control characters, the Unicode line and paragraph separators and the bidirectional
/// controls.
fn escaped(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Logged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut end = self.value.len();
        for (shown, (at, c)) in self.value.char_indices().enumerate() {
            if shown == self.max_chars {
                end = at;
                break;
            }
            if escaped(c) {
                write!(f, "{}", c.escape_debug())?;
            } else {
                f.write_char(c)?;
            }
        }
        if end < self.value.len() {
            write!(f, "… ({} more bytes)", self.value.len() - end)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Logged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_controls_are_escaped_so_a_value_stays_on_its_line() {
        let forged = "ok\nERROR gatehouse: forged\r\u{1b}[31m\u{2028}\u{202e}";
        let shown = logged(forged).to_string();
        assert_eq!(shown, r"ok\nERROR gatehouse: forged\r\u{1b}[31m\u{2028}\u{202e}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }

    #[test]
    fn backslashes_are_escaped_so_escapes_are_unambiguous() {
        assert_eq!(logged(r"a\nb").to_string(), r"a\\nb");
    }

    #[test]
    fn ordinary_text_is_kept_as_it_is() {
        assert_eq!(logged("Zoë's \"app\" — café 名前").to_string(), "Zoë's \"app\" — café 名前");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary_and_say_how_much_is_left() {
        let huge = "é".repeat(1_000_000);
        let shown = logged(&huge).to_string();
        assert_eq!(shown, format!("{}… ({} more bytes)", "é".repeat(REQUEST_VALUE_CHARS), 2 * (1_000_000 - 128)));
        assert_eq!(Logged::at_most("abcdef", 3).to_string(), "abc… (3 more bytes)");
        assert_eq!(Logged::at_most("abc", 3).to_string(), "abc", "nothing cut, nothing said");
    }
}
