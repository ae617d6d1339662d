//! `POST /broadcast/{protocol}`: an HTTP body sent to a whole protocol group, as one
//! packet of that protocol ([`Group::encode`], pure), or refused with why.

use super::*;

/// Why an HTTP body cannot be broadcast.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyRefused {
    /// The body does not fit in one packet of the group's protocol.
    #[error("body is over the {limit}-byte limit of a {protocol} broadcast")]
    TooLarge {
        /// The group's protocol.
        protocol: &'static str,
        /// The largest body accepted, in bytes.
        limit: usize,
    },
    /// A `line` body must be text.
    #[error("a line body must be UTF-8")]
    NotUtf8,
    /// A `line` body must stay one line.
    #[error("a line body cannot contain a line break (CR or LF)")]
    LineBreak,
    /// The protocol's codec refused the packet.
    #[error("cannot encode the body: {0}")]
    Encode(String),
}

/// A protocol group that bodies can be broadcast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The `frame` group: the body goes out as one BROADCAST frame.
    Frame,
    /// The `line` group: the body goes out as one `BCAST <body>` line.
    Line,
}

/// What a `line` broadcast puts in front of the body.
const LINE_PREFIX: &str = "BCAST ";

impl Group {
    /// The group called `name`, if bodies can be broadcast to it.
    pub fn parse(name: &str) -> Option<Group> {
        match name {
            FrameProtocol::NAME => Some(Group::Frame),
            LineProtocol::NAME => Some(Group::Line),
            _ => None,
        }
    }

    /// The group's protocol name.
    pub fn name(self) -> &'static str {
        match self {
            Group::Frame => FrameProtocol::NAME,
            Group::Line => LineProtocol::NAME,
        }
    }

    /// The largest body that fits in one packet (the opcode or `BCAST ` included).
    pub fn max_body(self, max_frame: usize, max_line: usize) -> usize {
        match self {
            Group::Frame => max_frame.saturating_sub(1),
            Group::Line => max_line.saturating_sub(LINE_PREFIX.len()),
        }
    }

    /// `body` as one encoded packet of this group's protocol.
    pub fn encode(
        self,
        body: &[u8],
        max_frame: usize,
        max_line: usize,
    ) -> Result<Bytes, BodyRefused> {
        let limit = self.max_body(max_frame, max_line);
        if body.len() > limit {
            return Err(BodyRefused::TooLarge {
                protocol: self.name(),
                limit,
            });
        }
        let mut packet = BytesMut::new();
        match self {
            Group::Frame => {
                let frame = Frame::new(Frame::BROADCAST, Bytes::copy_from_slice(body));
                FrameCodec::new(max_frame)
                    .encode(frame, &mut packet)
                    .map_err(|e| BodyRefused::Encode(e.to_string()))?;
            }
            Group::Line => {
                let text = std::str::from_utf8(body).map_err(|_| BodyRefused::NotUtf8)?;
                if text.contains(['\n', '\r']) {
                    return Err(BodyRefused::LineBreak);
                }
                packet.extend_from_slice(LINE_PREFIX.as_bytes());
                packet.extend_from_slice(body);
                packet.extend_from_slice(b"\n");
            }
        }
        Ok(packet.freeze())
    }
}

/// One member that refused a broadcast, as JSON.
#[derive(Debug, Serialize)]
pub struct RefusedView {
    /// The connection.
    pub id: switchboard::ConnId,
    /// Why it refused.
    pub reason: String,
}

/// The answer of `POST /broadcast/{protocol}`.
#[derive(Debug, Serialize)]
pub struct BroadcastView {
    /// The group broadcast to.
    pub protocol: &'static str,
    /// Members whose queue took the packet.
    pub delivered: usize,
    /// Members that refused it.
    pub refused: Vec<RefusedView>,
}

pub(super) async fn broadcast(
    state: web::Data<WebState>,
    protocol: web::Path<String>,
    body: web::Payload,
) -> HttpResponse {
    let Some(group) = Group::parse(&protocol) else {
        let message = format!("no protocol group {:?} to broadcast to", protocol.as_str());
        return error(StatusCode::NOT_FOUND, message);
    };
    let limit = group.max_body(state.max_frame, state.max_line);
    // Read at most one byte past the limit: a larger body is refused without buffering it.
    let body = match body.to_bytes_limited(limit.saturating_add(1)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
        Err(_) => {
            let refused = BodyRefused::TooLarge {
                protocol: group.name(),
                limit,
            };
            return error(StatusCode::BAD_REQUEST, refused);
        }
    };
    let packet = match group.encode(&body, state.max_frame, state.max_line) {
        Ok(packet) => packet,
        Err(refused) => return error(StatusCode::BAD_REQUEST, refused),
    };
    match state.board.broadcast_acked(group.name(), packet).await {
        Ok(report) => HttpResponse::Ok().json(BroadcastView {
            protocol: group.name(),
            delivered: report.delivered,
            refused: report
                .refused
                .iter()
                .map(|(id, e)| RefusedView {
                    id: *id,
                    reason: e.to_string(),
                })
                .collect(),
        }),
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_name() {
        assert_eq!(Group::parse("frame"), Some(Group::Frame));
        assert_eq!(Group::parse("line"), Some(Group::Line));
        assert_eq!(Group::parse("backend"), None);
    }

    #[test]
    fn frame_body_becomes_one_broadcast_frame() {
        let packet = Group::Frame.encode(b"hi", 16, 16).unwrap();
        assert_eq!(&packet[..], &[0, 0, 0, 3, Frame::BROADCAST, b'h', b'i'][..]);
        assert!(Group::Frame.encode(&[7; 15], 16, 16).is_ok());
        assert_eq!(
            Group::Frame.encode(&[7; 16], 16, 16),
            Err(BodyRefused::TooLarge {
                protocol: "frame",
                limit: 15
            })
        );
    }

    #[test]
    fn line_body_becomes_one_bcast_line() {
        let packet = Group::Line.encode(b"hello there", 64, 64).unwrap();
        assert_eq!(&packet[..], b"BCAST hello there\n");
        assert_eq!(
            Group::Line.encode(b"two\nlines", 64, 64),
            Err(BodyRefused::LineBreak)
        );
        assert_eq!(
            Group::Line.encode(b"cr\r", 64, 64),
            Err(BodyRefused::LineBreak)
        );
        assert_eq!(
            Group::Line.encode(&[0xff], 64, 64),
            Err(BodyRefused::NotUtf8)
        );
        // max_line counts the whole line, "BCAST " included.
        assert!(Group::Line.encode(&[b'x'; 10], 64, 16).is_ok());
        assert!(matches!(
            Group::Line.encode(&[b'x'; 11], 64, 16),
            Err(BodyRefused::TooLarge { limit: 10, .. })
        ));
    }
}
