//! Close codes and Close frames (RFC 6455 sections 5.5.1 and 7.4).

use super::frame::{Header, Opcode, MAX_CONTROL_PAYLOAD};
use super::Violation;
use bytes::{BufMut, Bytes, BytesMut};

/// A close status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the server is going down (or the browser is leaving the page).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: a protocol violation.
    pub const PROTOCOL: CloseCode = CloseCode(1002);
    /// 1003: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED: CloseCode = CloseCode(1003);
    /// 1007: a text message (or Close reason) that is not UTF-8.
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// 1008: a policy violation (unauthorized, limits, repeated bad packets).
    pub const POLICY: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether a peer may send this code in a Close frame: 1000-1003, 1007-1014
    /// (the registered ones) and 3000-4999 (libraries and applications). 1004, 1005,
    /// 1006 and 1015 are reserved and never sent; the rest is unassigned.
    pub fn is_valid_on_the_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a peer's Close frame said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerClose {
    /// Its code, or `None` for a Close without a body.
    pub code: Option<CloseCode>,
    /// Its reason text (valid UTF-8, at most 123 bytes).
    pub reason: String,
}

impl PeerClose {
    /// Reads a Close frame's (unmasked) payload: empty, or a valid code and a UTF-8
    /// reason. A one-byte body or a code no peer may send is a protocol error (1002);
    /// a reason that is not UTF-8 is 1007.
    pub(crate) fn parse(payload: &[u8]) -> Result<PeerClose, Violation> {
        match payload {
            [] => Ok(PeerClose {
                code: None,
                reason: String::new(),
            }),
            [_] => Err(Violation::new(CloseCode::PROTOCOL, "one-byte close body")),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_the_wire() {
                    return Err(Violation::new(CloseCode::PROTOCOL, "invalid close code"));
                }
                let Ok(reason) = std::str::from_utf8(reason) else {
                    return Err(Violation::new(
                        CloseCode::INVALID_DATA,
                        "close reason is not utf-8",
                    ));
                };
                Ok(PeerClose {
                    code: Some(code),
                    reason: reason.to_owned(),
                })
            }
        }
    }

    /// The Close frame that answers this one: the same code (RFC 6455 section 5.5.1:
    /// "the endpoint typically echos the status code it received"), no reason; an
    /// empty Close for an empty one.
    pub fn answer(&self) -> Bytes {
        match self.code {
            Some(code) => close_frame(code, ""),
            None => Bytes::from_static(&[0x88, 0x00]),
        }
    }
}

/// A server's Close frame with `code` and `reason`; a reason longer than the 123 bytes
/// a control frame leaves for it is cut at a character boundary.
///
/// ```
/// use switchboard::websocket::{close_frame, CloseCode};
///
/// assert_eq!(&close_frame(CloseCode::GOING_AWAY, "shutdown")[..4], &[0x88, 10, 0x03, 0xE9]);
/// ```
pub fn close_frame(code: CloseCode, reason: &str) -> Bytes {
    let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let reason = &reason[..cut];
    let header = Header::new(Opcode::Close, 2 + reason.len());
    let mut out = BytesMut::with_capacity(header.len() + 2 + reason.len());
    out.put_slice(header.as_bytes());
    out.put_u16(code.0);
    out.put_slice(reason.as_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_a_peer_may_send() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
        ];
        for code in valid.into_iter().chain([3000, 3999, 4000, 4999]) {
            assert!(CloseCode(code).is_valid_on_the_wire(), "{code}");
        }
        // The invalid codes of the Autobahn testsuite's case 7.9, and the edges.
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(code).is_valid_on_the_wire(), "{code}");
        }
    }

    #[test]
    fn parses_a_close_body() {
        assert_eq!(
            PeerClose::parse(&[]),
            Ok(PeerClose {
                code: None,
                reason: String::new()
            })
        );
        let mut body = vec![0x03, 0xE8];
        body.extend_from_slice("bye ü".as_bytes());
        assert_eq!(
            PeerClose::parse(&body),
            Ok(PeerClose {
                code: Some(CloseCode::NORMAL),
                reason: "bye ü".into()
            })
        );
    }

    #[test]
    fn refuses_a_bad_close_body_with_its_code() {
        let code = |payload: &[u8]| PeerClose::parse(payload).unwrap_err().code();
        assert_eq!(code(&[0x03]), CloseCode::PROTOCOL);
        assert_eq!(code(&1005u16.to_be_bytes()), CloseCode::PROTOCOL);
        assert_eq!(code(&999u16.to_be_bytes()), CloseCode::PROTOCOL);
        assert_eq!(
            code(&[0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD]),
            CloseCode::INVALID_DATA
        );
        assert_eq!(code(&[0x03, 0xE8, 0xFF]), CloseCode::INVALID_DATA);
    }

    #[test]
    fn answers_with_the_same_code_or_an_empty_close() {
        let close = PeerClose::parse(&[0x0F, 0xA0, b'x']).unwrap();
        assert_eq!(&close.answer()[..], &[0x88, 2, 0x0F, 0xA0]);
        assert_eq!(&PeerClose::parse(&[]).unwrap().answer()[..], &[0x88, 0]);
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_a_control_frame_at_a_char_boundary() {
        let frame = close_frame(CloseCode::POLICY, "é".repeat(100).as_str());
        assert_eq!(frame[1] as usize, frame.len() - 2);
        assert!(frame.len() - 2 <= MAX_CONTROL_PAYLOAD);
        // 122 bytes of 'é' (two bytes each) fit in 123; the reason stays UTF-8.
        assert_eq!(frame.len() - 4, 122);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        assert_eq!(&frame[2..4], &1008u16.to_be_bytes());
    }
}
