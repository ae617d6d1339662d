//! The strictness suite: client bytes, and what a strict server must do with them.
//! Named after the Autobahn|Testsuite case each one follows, where there is one.

use crate::drive::Observed;
use crate::wire::{binary, close, frame, text};
use crate::LIMIT;

/// One case of the suite.
#[derive(Debug, Clone)]
pub struct Case {
    /// The Autobahn case it follows (or the RFC rule), and what it sends.
    pub name: String,
    /// The client's bytes.
    pub input: Vec<u8>,
    /// The messages a strict server hands out: (text?, payload).
    pub messages: Vec<(bool, Vec<u8>)>,
    /// The payloads of the Pongs it writes.
    pub pongs: Vec<Vec<u8>>,
    /// The Close it writes: `None`, an empty one, or one with this code.
    pub close: Option<Option<u16>>,
    /// Whether the client broke a rule (the server must refuse the stream).
    pub violation: bool,
}

/// How an implementation did on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    /// Exactly what a strict server does.
    Pass,
    /// The right messages and Pongs, the violation seen (or the Close answered), but
    /// the Close on the wire is missing or carries another code.
    Code,
    /// A message lost, changed or invented, a violation let through, or a valid stream
    /// refused.
    Fail,
}

impl Case {
    /// How `observed` measures up.
    pub fn grade(&self, observed: &Observed) -> Grade {
        if observed.messages != self.messages || observed.pongs != self.pongs {
            return Grade::Fail;
        }
        if self.violation && !observed.failed && observed.close != self.close {
            // A violation let through (neither reported nor answered with its code).
            return Grade::Fail;
        }
        if !self.violation && observed.failed {
            // A valid stream refused.
            return Grade::Fail;
        }
        if observed.close == self.close {
            Grade::Pass
        } else if self.close.is_some() {
            Grade::Code
        } else {
            // A Close nobody asked for.
            Grade::Fail
        }
    }
}

fn case(name: &str, input: Vec<u8>) -> Case {
    Case {
        name: name.to_owned(),
        input,
        messages: Vec::new(),
        pongs: Vec::new(),
        close: None,
        violation: false,
    }
}

impl Case {
    fn text(mut self, payload: &[u8]) -> Self {
        self.messages.push((true, payload.to_vec()));
        self
    }

    fn binary(mut self, payload: &[u8]) -> Self {
        self.messages.push((false, payload.to_vec()));
        self
    }

    fn pong(mut self, payload: &[u8]) -> Self {
        self.pongs.push(payload.to_vec());
        self
    }

    fn answered(mut self, code: Option<u16>) -> Self {
        self.close = Some(code);
        self
    }

    fn refused(mut self, code: u16) -> Self {
        self.close = Some(Some(code));
        self.violation = true;
        self
    }
}

fn cat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// Every case of the suite.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    // 1: framing.
    for len in [0, 125, 126, LIMIT] {
        let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        cases.push(case(&format!("1.1 text of {len} bytes"), text(&payload)).text(&payload));
        cases.push(case(&format!("1.2 binary of {len} bytes"), binary(&payload)).binary(&payload));
    }
    // 2: pings and pongs.
    cases.push(case("2.1 ping, no payload", frame(0x89, b"")).pong(b""));
    cases.push(case("2.3 ping, 125 binary bytes", frame(0x89, &[0xFE; 125])).pong(&[0xFE; 125]));
    cases.push(case("2.5 ping of 126 bytes", frame(0x89, &[0; 126])).refused(1002));
    cases.push(case("2.7 unsolicited pong", frame(0x8A, b"x")));
    let pings: Vec<Vec<u8>> = (0..10u8).map(|i| frame(0x89, &[i])).collect();
    let mut ten = case("2.10 ten pings", cat(&pings));
    for i in 0..10u8 {
        ten = ten.pong(&[i]);
    }
    cases.push(ten);
    // 3: reserved bits.
    cases.push(case("3.1 RSV1 on a text frame", frame(0xC1, b"x")).refused(1002));
    cases.push(
        case(
            "3.2 text, then RSV2",
            cat(&[text(b"ok"), frame(0xA1, b"x")]),
        )
        .text(b"ok")
        .refused(1002),
    );
    cases.push(case("3.6 RSV3 on a ping", frame(0x99, b"x")).refused(1002));
    // 4: opcodes, and the rules a client's header breaks.
    cases.push(case("4.1.1 reserved opcode 3", frame(0x83, b"")).refused(1002));
    cases.push(case("4.2.1 reserved control opcode 11", frame(0x8B, b"")).refused(1002));
    cases.push(case("RFC 5.1 unmasked client frame", vec![0x81, 0x01, b'x']).refused(1002));
    cases.push(
        case(
            "RFC 5.2 length not in its shortest form",
            vec![0x82, 0xFE, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0, 0],
        )
        .refused(1002),
    );
    let mut top_bit = vec![0x82, 0xFF];
    top_bit.extend_from_slice(&(1u64 << 63).to_be_bytes());
    top_bit.extend_from_slice(&[1, 2, 3, 4]);
    cases.push(case("RFC 5.2 64-bit length with its top bit set", top_bit).refused(1002));
    // 5: fragmentation.
    cases.push(
        case(
            "5.1 fragmented ping",
            cat(&[frame(0x09, b"a"), frame(0x80, b"b")]),
        )
        .refused(1002),
    );
    cases.push(
        case(
            "5.2 fragmented pong",
            cat(&[frame(0x0A, b"a"), frame(0x80, b"b")]),
        )
        .refused(1002),
    );
    cases.push(
        case(
            "5.x fragmented close",
            cat(&[frame(0x08, b"\x03"), frame(0x80, b"\xe8")]),
        )
        .refused(1002),
    );
    cases.push(
        case(
            "5.3 text in two fragments",
            cat(&[frame(0x01, b"frag"), frame(0x80, b"ment")]),
        )
        .text(b"fragment"),
    );
    cases.push(
        case(
            "5.6 fragments with a ping between",
            cat(&[frame(0x01, b"a"), frame(0x89, b"p"), frame(0x80, b"b")]),
        )
        .pong(b"p")
        .text(b"ab"),
    );
    cases.push(case("5.9 continuation without a start", frame(0x80, b"x")).refused(1002));
    cases.push(
        case(
            "5.13 unfinished continuation without a start",
            frame(0x00, b"x"),
        )
        .refused(1002),
    );
    cases.push(
        case(
            "5.18 a new text before the last ended",
            cat(&[frame(0x01, b"a"), frame(0x01, b"b")]),
        )
        .refused(1002),
    );
    // 6: UTF-8.
    let kosme = "κόσμε".as_bytes();
    cases.push(
        case(
            "6.2 a character split across fragments",
            cat(&[frame(0x01, &kosme[..3]), frame(0x80, &kosme[3..])]),
        )
        .text(kosme),
    );
    cases.push(case("6.3 invalid text in one frame", text(b"ok\xff")).refused(1007));
    cases.push(
        case(
            "6.3 invalid text split across fragments",
            cat(&[frame(0x01, b"ok\xed"), frame(0x80, b"\xa0\x80")]),
        )
        .refused(1007),
    );
    cases.push(case("6.8 a surrogate (U+D800)", text(b"\xed\xa0\x80")).refused(1007));
    cases.push(case("6.9 an overlong slash", text(b"\xc0\xaf")).refused(1007));
    cases.push(
        case(
            "6.x a character cut by the message's end",
            text(b"ok\xe2\x82"),
        )
        .refused(1007),
    );
    cases.push(
        case(
            "6.x a character cut by the last fragment's end",
            cat(&[frame(0x01, b"ok\xf0"), frame(0x80, b"\x9d")]),
        )
        .refused(1007),
    );
    // 7: close.
    cases.push(
        case(
            "7.1.1 text, then close",
            cat(&[text(b"hi"), close(1000, b"")]),
        )
        .text(b"hi")
        .answered(Some(1000)),
    );
    cases.push(
        case(
            "7.1.4 nothing is read after a close",
            cat(&[close(1000, b""), text(b"late")]),
        )
        .answered(Some(1000)),
    );
    cases.push(case("7.3.1 close without a body", frame(0x88, b"")).answered(None));
    cases.push(case("7.3.2 close with one byte", frame(0x88, b"\x03")).refused(1002));
    cases.push(case("7.3.4 close with a reason", close(1000, b"bye")).answered(Some(1000)));
    cases.push(case("7.3.6 close reason of 124 bytes", close(1000, &[b'x'; 124])).refused(1002));
    cases.push(
        case(
            "7.5.1 close reason not UTF-8",
            close(1000, b"\xce\xba\xed\xa0\x80"),
        )
        .refused(1007),
    );
    for code in [1001, 3000, 4999] {
        cases.push(
            case(
                &format!("7.7 close {code} answered with {code}"),
                close(code, b""),
            )
            .answered(Some(code)),
        );
    }
    for code in [999, 1005, 1006, 1016, 5000] {
        cases.push(
            case(
                &format!("7.9 close with invalid code {code}"),
                close(code, b""),
            )
            .refused(1002),
        );
    }
    // 9: limits.
    let big: Vec<u8> = (0..LIMIT).map(|i| b'a' + (i % 26) as u8).collect();
    let fragments: Vec<Vec<u8>> = big
        .chunks(64)
        .enumerate()
        .map(|(i, part)| {
            let last = (i + 1) * 64 >= LIMIT;
            let opcode = if i == 0 { 0x01 } else { 0x00 };
            frame(if last { 0x80 | opcode } else { opcode }, part)
        })
        .collect();
    cases.push(case("9.3 text at the limit in fragments of 64", cat(&fragments)).text(&big));
    cases.push(case("9.x one frame over the limit", binary(&[0; LIMIT + 1])).refused(1009));
    cases.push(
        case(
            "9.x fragments over the limit together",
            cat(&[
                frame(0x02, &[0; LIMIT / 2]),
                frame(0x80, &[0; LIMIT / 2 + 1]),
            ]),
        )
        .refused(1009),
    );
    let mut announced = vec![0x82, 0xFF];
    announced.extend_from_slice(&(1u64 << 40).to_be_bytes());
    announced.extend_from_slice(&[1, 2, 3, 4, 0, 0]);
    cases.push(case("9.x a header announcing 1 TiB", announced).refused(1009));
    cases
}
