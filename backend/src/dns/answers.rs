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

/// Reads the parts of a query that decide its answer into `key` (the flags that matter — RD and
/// CD, with QR and the opcode —, the question with its name lower-cased, and the additional
/// section as sent), reusing the buffer so that a kept answer costs no allocation; returns where
/// the question's name ends (it is `query[12..end]`), or `None` for anything but a plain query
/// (which goes the general way).
pub fn parse(query: &[u8], key: &mut Vec<u8>) -> Option<usize> {
    key.clear();
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
    key.extend_from_slice(&flags);
    let mut at = 12;
    loop {
        let len = *query.get(at)? as usize;
        // Compression in a question is legal but rare: not for this path.
        if len & 0xC0 != 0 {
            return None;
        }
        key.push(len as u8);
        at += 1;
        if len == 0 {
            break;
        }
        key.extend(query.get(at..at + len)?.iter().map(u8::to_ascii_lowercase));
        at += len;
    }
    let name_end = at;
    key.extend_from_slice(query.get(at..at + 4)?);
    let additional = query.get(at + 4..)?;
    // An additional section is exactly one EDNS record (root name, type OPT, no rdata), or none.
    let edns = additional.len() == 11 && additional[0] == 0 && additional[1..3] == [0, 41];
    if (count(6) == 1 && !edns) || (count(6) == 0 && !additional.is_empty()) {
        return None;
    }
    key.extend_from_slice(additional);
    Some(name_end)
}

/// One thread's answers, for the zone they were made from, by the key [`parse`] writes.
#[derive(Default)]
pub struct Answers {
    /// The generation of the zone the answers are from: another one empties the cache.
    zone: u64,
    by_key: FxHashMap<Vec<u8>, Vec<u8>>,
}

impl Answers {
    /// The answer kept for `key` from `zone`, written into `out` with `query`'s ID and its
    /// question's name as the client wrote it (the same length as the kept one's).
    pub fn answer(&mut self, zone: u64, query: &[u8], key: &[u8], name_end: usize, out: &mut Vec<u8>) -> bool {
        if self.zone != zone {
            self.zone = zone;
            self.by_key.clear();
            return false;
        }
        let Some(answer) = self.by_key.get(key) else { return false };
        out.clear();
        out.extend_from_slice(answer);
        out[..2].copy_from_slice(&query[..2]);
        out[12..name_end].copy_from_slice(&query[12..name_end]);
        true
    }

    /// Keeps the answer sent for `key` from `zone`.
    pub fn keep(&mut self, zone: u64, key: &[u8], answer: &[u8]) {
        if self.zone != zone {
            self.zone = zone;
            self.by_key.clear();
        }
        if self.by_key.len() >= CAPACITY {
            self.by_key.clear();
        }
        self.by_key.insert(key.to_vec(), answer.to_vec());
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
        let mut key = Vec::new();
        let end = parse(&first, &mut key).expect("a plain query");
        let mut answers = Answers::default();
        let mut out = Vec::new();
        assert!(!answers.answer(1, &first, &key, end, &mut out), "nothing kept yet");
        // An answer as the general path made it: the question echoed, then a record.
        let mut answer = first.clone();
        answer[2] |= 0x84;
        answer.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 7]);
        answers.keep(1, &key, &answer);

        let mixed = query(99, "KuBiA.default.svc.cluster.local", false);
        let end = parse(&mixed, &mut key).expect("a plain query");
        assert!(answers.answer(1, &mixed, &key, end, &mut out));
        assert_eq!(&out[..2], &99u16.to_be_bytes(), "the query's ID");
        assert_eq!(&out[13..18], b"KuBiA", "the name as the client wrote it");
        assert_eq!(&out[out.len() - 4..], &[10, 96, 0, 7]);
        assert!(!answers.answer(2, &mixed, &key, end, &mut out), "another zone: answered afresh");
    }

    #[test]
    fn only_plain_queries_are_taken_and_edns_is_part_of_the_key() {
        let (mut plain, mut edns) = (Vec::new(), Vec::new());
        parse(&query(1, "a.b", false), &mut plain).unwrap();
        parse(&query(1, "a.b", true), &mut edns).unwrap();
        assert_ne!(plain, edns);
        let parse = |q: &[u8]| parse(q, &mut Vec::new());
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
