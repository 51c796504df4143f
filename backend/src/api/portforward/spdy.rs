//! SPDY/3.1 framing as client-go's port-forward speaks it (moby/spdystream): data frames and the
//! control frames a port-forward needs (SYN_STREAM, SYN_REPLY, RST_STREAM, PING; others are
//! read and passed over), with header blocks compressed by one zlib stream per direction, primed
//! with SPDY's dictionary.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::sync::LazyLock;

pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
/// The FIN flag of a data frame (and of SYN_STREAM): the sender sends nothing more.
pub const FLAG_FIN: u8 = 1;
/// RST_STREAM's status for a stream the server will not serve.
pub const REFUSED_STREAM: u32 = 3;
/// The largest frame accepted (client-go sends data in 32 KiB pieces).
const MAX_FRAME: usize = 1 << 20;

/// SPDY/3's header dictionary (draft 3, 2.6.10.1): length-prefixed header names and common
/// values, then a run of status codes, reason phrases, dates and media types.
pub static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505\
        203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized\
        403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable\
        Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT\
        chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,\
        text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    let mut out = Vec::with_capacity(1423);
    for word in WORDS {
        out.extend_from_slice(&(word.len() as u32).to_be_bytes());
        out.extend_from_slice(word.as_bytes());
    }
    out.extend_from_slice(TAIL.as_bytes());
    out
});

/// One frame read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Control { kind: u16, flags: u8, payload: Vec<u8> },
    Data { stream: u32, flags: u8, data: Vec<u8> },
}

/// Why the byte stream is not SPDY.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpdyError {
    #[error("a frame of {0} bytes is larger than allowed")]
    TooLarge(usize),
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("header block: {0}")]
    Compression(String),
}

/// Takes the next whole frame off the front of `buf`, if it has arrived.
pub fn next_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, SpdyError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let length = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
    if length > MAX_FRAME {
        return Err(SpdyError::TooLarge(length));
    }
    if buf.len() < 8 + length {
        return Ok(None);
    }
    let flags = buf[4];
    let payload = buf[8..8 + length].to_vec();
    let head = [buf[0], buf[1], buf[2], buf[3]];
    buf.drain(..8 + length);
    if head[0] & 0x80 != 0 {
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != 3 {
            return Err(SpdyError::Version(version));
        }
        Ok(Some(Frame::Control { kind: u16::from_be_bytes([head[2], head[3]]), flags, payload }))
    } else {
        Ok(Some(Frame::Data { stream: u32::from_be_bytes(head), flags, data: payload }))
    }
}

/// A control frame's bytes.
pub fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[0x80, 3]);
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

/// A data frame's bytes.
pub fn data(stream: u32, flags: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(bytes);
    out
}

/// The first four bytes of a payload as a stream id (SYN_STREAM, SYN_REPLY, RST_STREAM).
pub fn stream_id(payload: &[u8]) -> Result<u32, SpdyError> {
    let id = payload.get(..4).ok_or(SpdyError::Malformed("stream id"))?;
    Ok(u32::from_be_bytes([id[0], id[1], id[2], id[3]]) & 0x7fff_ffff)
}

/// The header blocks one side sends: a zlib stream primed with [`DICTIONARY`], flushed at the
/// end of each block.
pub struct Headers {
    inflate: Decompress,
    deflate: Compress,
}

impl Default for Headers {
    fn default() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate.set_dictionary(&DICTIONARY).expect("a fresh compressor takes a dictionary");
        Headers { inflate: Decompress::new(true), deflate }
    }
}

impl Headers {
    /// Reads a SYN_STREAM's headers (its payload after the stream ids, priority and slot): the
    /// names lowercased, as SPDY sends them, with their values.
    pub fn read_syn_stream(&mut self, payload: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
        let block = payload.get(10..).ok_or(SpdyError::Malformed("SYN_STREAM"))?;
        let plain = self.inflate(block)?;
        parse_block(&plain)
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(4096);
            }
            let before = self.inflate.total_in();
            match self.inflate.decompress_vec(input, &mut out, FlushDecompress::Sync) {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate.set_dictionary(&DICTIONARY).map_err(|e| SpdyError::Compression(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Compression(e.to_string())),
            }
            input = &input[(self.inflate.total_in() - before) as usize..];
            if input.is_empty() && out.capacity() > out.len() {
                return Ok(out);
            }
        }
    }

    /// A SYN_REPLY frame for `stream` with no headers (what spdystream's server replies).
    pub fn syn_reply(&mut self, stream: u32) -> Result<Vec<u8>, SpdyError> {
        let block = self.deflate(&0u32.to_be_bytes())?;
        let mut payload = stream.to_be_bytes().to_vec();
        payload.extend_from_slice(&block);
        Ok(control(SYN_REPLY, 0, &payload))
    }

    fn deflate(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() + 64);
        let before = self.deflate.total_in();
        loop {
            let consumed = (self.deflate.total_in() - before) as usize;
            let status = self
                .deflate
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            let done = (self.deflate.total_in() - before) as usize == input.len();
            if done && out.len() < out.capacity() && status != Status::BufError {
                return Ok(out);
            }
            out.reserve(256);
        }
    }
}

/// A decompressed header block: a count, then length-prefixed names and values.
fn parse_block(plain: &[u8]) -> Result<Vec<(String, String)>, SpdyError> {
    let mut at = 0;
    let next = |at: &mut usize| -> Result<&[u8], SpdyError> {
        let len = plain.get(*at..*at + 4).ok_or(SpdyError::Malformed("header block"))?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let bytes = plain.get(*at + 4..*at + 4 + len).ok_or(SpdyError::Malformed("header block"))?;
        *at += 4 + len;
        Ok(bytes)
    };
    let count = plain.get(..4).ok_or(SpdyError::Malformed("header block"))?;
    let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    at += 4;
    let mut headers = Vec::new();
    for _ in 0..count.min(256) {
        let name = String::from_utf8_lossy(next(&mut at)?).to_ascii_lowercase();
        let value = String::from_utf8_lossy(next(&mut at)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header block as a client writes it, with the other side's compressor.
    fn block(headers: &[(&str, &str)], deflate: &mut Headers) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            for part in [name, value] {
                plain.extend_from_slice(&(part.len() as u32).to_be_bytes());
                plain.extend_from_slice(part.as_bytes());
            }
        }
        deflate.deflate(&plain).unwrap()
    }

    #[test]
    fn the_dictionary_is_spdy3s() {
        // The Adler-32 kubectl's zlib header names (FDICT) for the dictionary it primes with.
        assert_eq!(DICTIONARY.len(), 1423);
        let mut deflate = Compress::new(Compression::default(), true);
        assert_eq!(deflate.set_dictionary(&DICTIONARY).unwrap(), 0xe3c6_a7c2);
    }

    #[test]
    fn frames_and_header_blocks_round_trip() {
        let (mut client, mut server) = (Headers::default(), Headers::default());
        let mut wire = Vec::new();
        for (id, kind) in [(1u32, "error"), (3, "data")] {
            let mut payload = id.to_be_bytes().to_vec();
            payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            let headers = [("streamType", kind), ("port", "8080"), ("requestID", "0")];
            payload.extend_from_slice(&block(&headers, &mut client));
            wire.extend(control(SYN_STREAM, 0, &payload));
        }
        wire.extend(data(3, FLAG_FIN, b"GET / HTTP/1.0\r\n\r\n"));
        let mut read = Vec::new();
        for chunk in wire.chunks(5) {
            read.extend_from_slice(chunk);
        }
        let Some(Frame::Control { kind: SYN_STREAM, payload, .. }) = next_frame(&mut read).unwrap() else { panic!() };
        assert_eq!(stream_id(&payload).unwrap(), 1);
        let headers = server.read_syn_stream(&payload).unwrap();
        assert_eq!(headers[0], ("streamtype".into(), "error".into()));
        let Some(Frame::Control { payload, .. }) = next_frame(&mut read).unwrap() else { panic!() };
        assert_eq!(server.read_syn_stream(&payload).unwrap()[1], ("port".into(), "8080".into()));
        assert_eq!(
            next_frame(&mut read).unwrap(),
            Some(Frame::Data { stream: 3, flags: FLAG_FIN, data: b"GET / HTTP/1.0\r\n\r\n".to_vec() })
        );
        assert_eq!(next_frame(&mut read).unwrap(), None);
        // A reply the client reads back with its own inflater.
        let reply = server.syn_reply(3).unwrap();
        let mut buf = reply.clone();
        let Some(Frame::Control { kind: SYN_REPLY, payload, .. }) = next_frame(&mut buf).unwrap() else { panic!() };
        assert_eq!(stream_id(&payload).unwrap(), 3);
        assert_eq!(parse_block(&client.inflate(&payload[4..]).unwrap()).unwrap(), vec![]);
    }
}
