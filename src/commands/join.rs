//! JOIN as both protocols see it: a group name, or a group name, an epoch and an
//! offset (a recovery JOIN of a history group); and the JOINED text of a history group.

use super::group::group_name;
use super::Command;
use switchboard::history::{Epoch, Joined, Position, Recovery};

/// The JOIN whose argument (after the word, or the frame's payload) is `argument`: a
/// group name alone, or `<name> <epoch> <offset>`; else the reason of its error packet.
/// An offset is ASCII digits within u64.
pub fn join_command(argument: &[u8]) -> Result<Command, String> {
    let words: Vec<&[u8]> = argument.split(|b| *b == b' ').collect();
    let [name, epoch, offset] = words[..] else {
        // One word, or a name with spaces: the group name's rule says what is wrong.
        return Ok(Command::Join(group_name(argument)?));
    };
    let group = group_name(name)?;
    let epoch = std::str::from_utf8(epoch)
        .ok()
        .and_then(|e| Epoch::parse(e).ok())
        .ok_or_else(|| format!("bad epoch \"{}\"", quoted(epoch)))?;
    let offset = std::str::from_utf8(offset)
        .ok()
        .filter(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|o| o.parse::<u64>().ok())
        .ok_or_else(|| format!("bad offset \"{}\"", quoted(offset)))?;
    Ok(Command::JoinFrom {
        group,
        from: Position { epoch, offset },
    })
}

/// At most 64 bytes of what the client sent, escaped.
fn quoted(text: &[u8]) -> String {
    let cut = &text[..text.len().min(super::MAX_QUOTED)];
    let ellipsis = if cut.len() < text.len() { "..." } else { "" };
    format!("{}{ellipsis}", cut.escape_ascii())
}

/// What follows `JOINED` for a join that `joined` answers: `<name>` for a group without
/// history, else `<name> <epoch> <offset>`, with ` RECOVERED <n>` or ` LOST` for a
/// recovery JOIN.
pub fn joined_text(joined: &Joined) -> String {
    let group = joined.group.as_str();
    let Some(stand) = &joined.history else {
        return group.to_owned();
    };
    let head = format!("{group} {} {}", stand.epoch, stand.last);
    match stand.recovery {
        None => head,
        Some(Recovery::Recovered(n)) => format!("{head} RECOVERED {n}"),
        Some(Recovery::Lost) => format!("{head} LOST"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard::history::Stand;
    use switchboard::GroupName;

    fn position(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: Epoch::parse(epoch).unwrap(),
            offset,
        }
    }

    #[test]
    fn a_join_names_a_group_or_a_group_and_a_position() {
        assert_eq!(
            join_command(b"lobby"),
            Ok(Command::Join(GroupName::from("lobby")))
        );
        assert_eq!(
            join_command(b"lobby e-1 42"),
            Ok(Command::JoinFrom {
                group: GroupName::from("lobby"),
                from: position("e-1", 42),
            })
        );
        let max = format!("lobby e {}", u64::MAX);
        assert!(matches!(
            join_command(max.as_bytes()),
            Ok(Command::JoinFrom { .. })
        ));
    }

    #[test]
    fn a_malformed_position_is_an_error() {
        let too_big = format!("lobby e {}0", u64::MAX);
        let cases: [(&[u8], &str); 9] = [
            (b"lobby e", "bad group name \"lobby e\""),
            (b"lobby e 1 2", "bad group name \"lobby e 1 2\""),
            (b"lobby e -1", "bad offset \"-1\""),
            (b"lobby e +1", "bad offset \"+1\""),
            (b"lobby e 1x", "bad offset \"1x\""),
            (b"lobby e ", "bad offset \"\""),
            (too_big.as_bytes(), "bad offset \"184467440737095516150\""),
            (b"lobby e/1 1", "bad epoch \"e/1\""),
            (b"bad/name e 1", "bad group name \"bad/name\""),
        ];
        for (argument, reason) in cases {
            assert_eq!(
                join_command(argument),
                Err(reason.to_owned()),
                "{argument:?}"
            );
        }
    }

    #[test]
    fn joined_says_where_the_history_stands() {
        let joined = |history| Joined {
            group: GroupName::from("room"),
            history,
        };
        let stand = |recovery| {
            Some(Stand {
                epoch: Epoch::parse("e-1").unwrap(),
                last: 7,
                recovery,
            })
        };
        assert_eq!(joined_text(&joined(None)), "room");
        assert_eq!(joined_text(&joined(stand(None))), "room e-1 7");
        assert_eq!(
            joined_text(&joined(stand(Some(Recovery::Recovered(3))))),
            "room e-1 7 RECOVERED 3"
        );
        assert_eq!(
            joined_text(&joined(stand(Some(Recovery::Lost)))),
            "room e-1 7 LOST"
        );
    }
}
