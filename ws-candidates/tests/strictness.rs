//! The strictness suite against every candidate, fed whole and a byte at a time. It
//! prints the table (`cargo test -p ws-candidates --test strictness -- --nocapture`)
//! and holds each candidate to the grades recorded in docs/DESIGN.md: Switchboard's
//! own layer passes every case; a change in another implementation's behaviour (an
//! upgrade) shows here and in the table.

use ws_candidates::cases::{all, Grade};
use ws_candidates::drive::Candidate;

/// The worse grade of the case fed whole and fed a byte at a time.
fn grades(candidate: Candidate) -> Vec<(String, Grade)> {
    all()
        .into_iter()
        .map(|case| {
            let whole = case.grade(&candidate.run(&case.input, usize::MAX));
            let bytewise = case.grade(&candidate.run(&case.input, 1));
            (case.name.clone(), whole.max(bytewise))
        })
        .collect()
}

fn mark(grade: Grade) -> &'static str {
    match grade {
        Grade::Pass => "pass",
        Grade::Code => "code",
        Grade::Fail => "FAIL",
    }
}

#[test]
fn strictness_table() {
    let columns: Vec<(Candidate, Vec<(String, Grade)>)> =
        Candidate::ALL.iter().map(|c| (*c, grades(*c))).collect();
    let mut table = String::from("| case |");
    for (candidate, _) in &columns {
        table += &format!(" {} |", candidate.name());
    }
    table += "\n|---|";
    table += &"---|".repeat(columns.len());
    table += "\n";
    for (i, (name, _)) in columns[0].1.iter().enumerate() {
        table += &format!("| {name} |");
        for (_, grades) in &columns {
            table += &format!(" {} |", mark(grades[i].1));
        }
        table += "\n";
    }
    table += "| **pass / code / FAIL** |";
    let mut summary = Vec::new();
    for (candidate, grades) in &columns {
        let count = |g| grades.iter().filter(|(_, x)| *x == g).count();
        let counts = (count(Grade::Pass), count(Grade::Code), count(Grade::Fail));
        table += &format!(" {} / {} / {} |", counts.0, counts.1, counts.2);
        summary.push((candidate.name(), counts));
    }
    println!("{table}");
    // What each candidate did where it missed, for the record.
    for case in all() {
        for candidate in Candidate::ALL {
            for chunk in [usize::MAX, 1] {
                let seen = candidate.run(&case.input, chunk);
                if case.grade(&seen) != Grade::Pass {
                    println!(
                        "{} / {} / {}: wanted close {:?}, got close {:?}, error {}, {} of {} messages",
                        case.name,
                        candidate.name(),
                        if chunk == 1 { "bytewise" } else { "whole" },
                        case.close,
                        seen.close,
                        seen.failed,
                        seen.messages.len(),
                        case.messages.len(),
                    );
                }
            }
        }
    }

    let failed: Vec<&str> = columns[0]
        .1
        .iter()
        .filter(|(_, g)| *g != Grade::Pass)
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(failed.is_empty(), "switchboard's layer misses {failed:?}");
    let cases = columns[0].1.len();
    assert_eq!(summary[0].1, (cases, 0, 0));
}
