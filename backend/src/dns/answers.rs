//! Encoded answers, kept per question while the zone stays the same: the UDP threads answer a
//! question they have answered before by copying the bytes they sent then, with the query's ID
//! and its name as the client wrote it (DNS names are compared without case, and a client may
//! mix case on purpose to check the answer is to its question). Only plain queries are taken:
//! one question, nothing else but an EDNS record, opcode QUERY; everything about the query that
//! shapes the answer (the question, the flags, EDNS) is part of the key. Authoritative servers
//! keep answers pre-encoded the same way (Knot DNS, NSD); parsing and encoding through hickory
//! is what a query costs otherwise.

use rustc_hash::FxHashMap;

/// At most this many answers per thread; past it the cache starts again.
const CAPACITY: usize = 32_768;

/// What about a query shapes its answer, and where its name is in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// The query's flags as they matter to the answer (RD and CD), with QR and the opcode.
    flags: [u8; 2],
    /// The question: its name in wire form, lower-cased, then its type and class.
    question: Vec<u8>,
    /// The additional section as sent (an EDNS record, or nothing).
    additional: Vec<u8>,
}

/// A query's key and the end of its question's name (the name is `bytes[12..name_end]`).
pub struct Parsed {
    pub key: Key,
    name_end: usize,
}

/// Reads the parts of a query that decide its answer; `None` for anything but a plain query
/// (so it goes the general way).
pub fn parse(query: &[u8]) -> Option<Parsed> {
    if query.len() < 12 {
        return None;
    }
    let (flags, counts) = ([query[2], query[3]], &query[4..12]);
    // QR = 0, opcode QUERY, no TC; AD/CD/RD are kept in the key.
    if flags[0] & 0b1111_1010 != 0 || flags[1] & 0b0100_1111 != 0 {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([counts[i], counts[i + 1]]);
    if count(0) != 1 || count(2) != 0 || count(4) != 0 || count(6) > 1 {
        return None;
    }
    let mut at = 12;
    let mut question = Vec::with_capacity(64);
    loop {
        let len = *query.get(at)? as usize;
        // Compression in a question is legal but rare: not for this path.
        if len & 0xC0 != 0 {
            return None;
        }
        question.push(len as u8);
        at += 1;
        if len == 0 {
            break;
        }
        let label = query.get(at..at + len)?;
        question.extend(label.iter().map(u8::to_ascii_lowercase));
        at += len;
    }
    let name_end = at;
    question.extend_from_slice(query.get(at..at + 4)?);
    at += 4;
    let additional = query.get(at..)?.to_vec();
    // An additional section must be exactly one EDNS record (root name, type OPT, no rdata).
    if count(6) == 1 && !(additional.len() == 11 && additional[0] == 0 && additional[1..3] == [0, 41]) {
        return None;
    }
    if count(6) == 0 && !additional.is_empty() {
        return None;
    }
    Some(Parsed { key: Key { flags, question, additional }, name_end })
}

/// One thread's answers, for the zone they were made from.
#[derive(Default)]
pub struct Answers {
    /// The generation of the zone the answers are from: another one empties the cache.
    zone: u64,
    by_key: FxHashMap<Key, Vec<u8>>,
}

impl Answers {
    /// The answer to `query` (parsed as `parsed`) from `zone`, written into `out`, when there is
    /// one.
    pub fn answer(&mut self, zone: u64, query: &[u8], parsed: &Parsed, out: &mut Vec<u8>) -> bool {
        if self.zone != zone {
            self.zone = zone;
            self.by_key.clear();
            return false;
        }
        let Some(answer) = self.by_key.get(&parsed.key) else { return false };
        out.clear();
        out.extend_from_slice(answer);
        // The query's ID, and its question's name as the client wrote it (same length).
        out[..2].copy_from_slice(&query[..2]);
        out[12..parsed.name_end].copy_from_slice(&query[12..parsed.name_end]);
        true
    }

    /// Keeps the answer sent for a query from `zone`.
    pub fn keep(&mut self, zone: u64, key: Key, answer: &[u8]) {
        if self.zone != zone {
            self.zone = zone;
            self.by_key.clear();
        }
        if self.by_key.len() >= CAPACITY {
            self.by_key.clear();
        }
        self.by_key.insert(key, answer.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` of type A, ID `id`, RD set, optionally with EDNS.
    fn query(id: u16, name: &str, edns: bool) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend(label.as_bytes());
        }
        q.extend([0, 0, 1, 0, 1]);
        if edns {
            q.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        q
    }

    #[test]
    fn a_kept_answer_is_reused_with_the_querys_id_and_case_until_the_zone_changes() {
        let first = query(7, "kubia.default.svc.cluster.local", false);
        let parsed = parse(&first).expect("a plain query");
        let mut answers = Answers::default();
        let mut out = Vec::new();
        assert!(!answers.answer(1, &first, &parsed, &mut out), "nothing kept yet");
        // An answer as the general path made it: the question echoed, then a record.
        let mut answer = first.clone();
        answer[2] |= 0x84;
        answer.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 7]);
        answers.keep(1, parsed.key, &answer);

        let mixed = query(99, "KuBiA.default.svc.cluster.local", false);
        let parsed = parse(&mixed).expect("a plain query");
        assert!(answers.answer(1, &mixed, &parsed, &mut out));
        assert_eq!(&out[..2], &99u16.to_be_bytes(), "the query's ID");
        assert_eq!(&out[13..18], b"KuBiA", "the name as the client wrote it");
        assert_eq!(&out[out.len() - 4..], &[10, 96, 0, 7]);
        assert!(!answers.answer(2, &mixed, &parsed, &mut out), "another zone: answered afresh");
    }

    #[test]
    fn only_plain_queries_are_taken_and_edns_is_part_of_the_key() {
        let plain = parse(&query(1, "a.b", false)).unwrap();
        let edns = parse(&query(1, "a.b", true)).unwrap();
        assert_ne!(plain.key, edns.key);
        let mut response = query(1, "a.b", false);
        response[2] |= 0x80;
        assert!(parse(&response).is_none(), "a response");
        let mut two = query(1, "a.b", false);
        two[5] = 2;
        assert!(parse(&two).is_none(), "two questions");
        assert!(parse(&[0; 11]).is_none(), "too short");
        let truncated = query(1, "kubia.default", false);
        assert!(parse(&truncated[..truncated.len() - 3]).is_none(), "cut short");
        let mut compressed = query(1, "a.b", false);
        compressed[12] = 0xc0;
        assert!(parse(&compressed).is_none());
    }
}
