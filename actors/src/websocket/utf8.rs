//! UTF-8 validated as the bytes of a text message arrive, across frames: an invalid
//! sequence is seen at the byte where it becomes invalid (fail fast), not when the
//! message ends, and a character split between two frames is checked whole.

/// Validation state between two pieces of one text message.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Utf8Validator {
    /// The start of a character whose last bytes have not arrived yet.
    partial: [u8; 4],
    /// How many bytes of `partial` are used (0 to 3).
    len: u8,
}

/// Bytes of the character that `lead` starts (0 for a byte no character starts with).
fn width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Whether `bytes` is valid UTF-8 or a valid beginning of it: how many bytes are whole
/// characters.
fn valid_prefix(bytes: &[u8]) -> Result<usize, ()> {
    // The fast check first; where it fails, the one that says where and why.
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return Ok(bytes.len());
    }
    match simdutf8::compat::from_utf8(bytes) {
        Ok(_) => Ok(bytes.len()),
        Err(e) if e.error_len().is_none() => Ok(e.valid_up_to()),
        Err(_) => Err(()),
    }
}

impl Utf8Validator {
    /// Checks the next piece of the message; `Err` as soon as it cannot be UTF-8.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ()> {
        if self.len > 0 {
            let have = self.len as usize;
            let need = width(self.partial[0]);
            let take = (need - have).min(data.len());
            self.partial[have..have + take].copy_from_slice(&data[..take]);
            data = &data[take..];
            let now = have + take;
            let complete = valid_prefix(&self.partial[..now])?;
            if complete < now {
                // Still a valid beginning, still incomplete: `data` is used up.
                self.len = now as u8;
                return Ok(());
            }
            self.len = 0;
        }
        let complete = valid_prefix(data)?;
        let rest = &data[complete..];
        self.partial[..rest.len()].copy_from_slice(rest);
        self.len = rest.len() as u8;
        Ok(())
    }

    /// Whether the message may end here (no character left incomplete); resets.
    pub fn finish(&mut self) -> Result<(), ()> {
        let complete = self.len == 0;
        self.len = 0;
        if complete {
            Ok(())
        } else {
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(pieces: &[&[u8]]) -> Result<(), ()> {
        let mut v = Utf8Validator::default();
        for piece in pieces {
            v.feed(piece)?;
        }
        v.finish()
    }

    #[test]
    fn accepts_characters_split_anywhere() {
        let text = "κόσμε 𝄞 ascii €".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(whole(&[&text[..a], &text[a..b], &text[b..]]), Ok(()));
            }
        }
        // One byte at a time.
        let mut v = Utf8Validator::default();
        for byte in text {
            v.feed(&[*byte]).unwrap();
        }
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn fails_fast_at_the_first_impossible_byte() {
        // The Autobahn testsuite's case 6.4.1: U+D800 (a surrogate) after valid text;
        // refused at its second byte, before the message ends.
        let mut v = Utf8Validator::default();
        v.feed("κόσμε".as_bytes()).unwrap();
        v.feed(&[0xED]).unwrap();
        assert_eq!(v.feed(&[0xA0]), Err(()));
        // Lone continuation bytes, overlong forms, bytes that never occur, past U+10FFFF.
        for bad in [
            &[0x80][..],
            &[0xC0, 0x80],
            &[0xFE],
            &[0xF4, 0x90],
            &[0xE0, 0x80],
        ] {
            let mut v = Utf8Validator::default();
            assert_eq!(v.feed(bad), Err(()), "{bad:x?}");
        }
    }

    #[test]
    fn an_unfinished_character_at_the_end_is_refused() {
        assert_eq!(whole(&[&[0xE2, 0x82]]), Err(()));
        assert_eq!(whole(&[b"ok", &[0xF0], &[0x9D]]), Err(()));
        // And the validator is clean for the next message.
        let mut v = Utf8Validator::default();
        v.feed(&[0xE2]).unwrap();
        assert!(v.finish().is_err());
        assert_eq!(v.feed(b"a"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }

    proptest! {
        #[test]
        fn agrees_with_std_however_the_bytes_are_cut(
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            text in ".{0,12}",
            cuts in proptest::collection::vec(0usize..60, 0..6),
            use_text in any::<bool>(),
        ) {
            let data = if use_text { text.into_bytes() } else { bytes };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                pieces.push(&data[at..cut]);
                at = cut;
            }
            let expected = std::str::from_utf8(&data).map(|_| ()).map_err(|_| ());
            prop_assert_eq!(whole(&pieces), expected);
        }
    }
}
