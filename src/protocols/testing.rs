//! Helpers shared by the protocols' unit tests.

/// `payload` as one frame on the wire: length prefix, opcode, payload.
pub fn wire(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(opcode);
    out.extend_from_slice(payload);
    out
}
