//! Text from servers and files made safe for a terminal.
//!
//! Owns escaping (control characters, C1 controls and bidirectional
//! overrides become visible `\u{..}` escapes, so a server cannot clear the
//! screen, set the title or forge a table row), display width, and cutting
//! long text at a word boundary. Must not decide what is printed where.

use unicode_width::UnicodeWidthStr;

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `s` with every control and bidi character escaped as `\u{..}`.
pub(crate) fn safe(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The columns `s` takes on a terminal.
pub(crate) fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, at the last word boundary that fits,
/// with `…` when anything was cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    let budget = max.saturating_sub(1);
    let mut end = 0;
    let mut used = 0;
    let mut last_space = None;
    for (i, c) in s.char_indices() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > budget {
            break;
        }
        used += w;
        end = i + c.len_utf8();
        if c == ' ' {
            last_space = Some(i);
        }
    }
    // Prefer a word boundary unless it throws away most of the text.
    let end = match last_space {
        Some(sp) if sp * 2 >= end => sp,
        _ => end,
    };
    format!("{}…", s[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        let evil = "\u{1b}[2J\u{1b}]0;pwned\u{7}evil\r\nFAKE  running\u{202e}x";
        let s = safe(evil);
        assert!(!s.chars().any(is_unsafe), "{s}");
        assert_eq!(
            s,
            "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}evil\\u{d}\\u{a}FAKE  running\\u{202e}x"
        );
        assert_eq!(safe("running"), "running");
    }

    #[test]
    fn cuts_at_a_word_boundary_by_display_width() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(
            cut("the key is not valid for this project", 20),
            "the key is not…"
        );
        // Wide characters take two columns each.
        let cut_wide = cut("日本語のメッセージです", 9);
        assert!(width(&cut_wide) <= 9, "{cut_wide}");
        assert!(cut_wide.ends_with('…'));
    }

    proptest! {
        #[test]
        fn never_wider_than_asked_and_always_safe(s in ".{0,200}", max in 1usize..80) {
            let c = cut(&safe(&s), max);
            prop_assert!(width(&c) <= max, "{:?} is {} wide", c, width(&c));
            prop_assert!(!safe(&s).chars().any(is_unsafe));
        }
    }
}
