//! Client frames as a browser sends them (masked), and the server's frames read back.

/// The masking key of every client frame here.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame: `b0` is FIN, RSV and opcode.
pub fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A text message in one frame.
pub fn text(payload: &[u8]) -> Vec<u8> {
    frame(0x81, payload)
}

/// A binary message in one frame.
pub fn binary(payload: &[u8]) -> Vec<u8> {
    frame(0x82, payload)
}

/// A Close frame with a code and a reason.
pub fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason);
    frame(0x88, &body)
}

/// One frame the server wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// Its opcode.
    pub opcode: u8,
    /// Its payload (unmasked, as a server writes it).
    pub payload: Vec<u8>,
}

/// The whole frames in what a server wrote (a torn last frame is left out).
pub fn server_frames(mut bytes: &[u8]) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (len, at) = match bytes[1] & 0x7F {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(be) as usize, 10)
            }
            126 | 127 => break,
            short => (short as usize, 2),
        };
        let masked = bytes[1] & 0x80 != 0;
        let start = at + if masked { 4 } else { 0 };
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        let mut payload = payload.to_vec();
        if masked {
            let key = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        frames.push(ServerFrame {
            opcode: bytes[0] & 0x0F,
            payload,
        });
        bytes = &bytes[start + len..];
    }
    frames
}
