//! The request parser: RESP multibulk and inline commands, resumable.
//!
//! Redis reads whatever the socket has into a query buffer and parses as many complete
//! commands as it can (`processInputBuffer` in networking.c). We do the same, with one
//! property Redis gets from its `qb_pos`/`bulklen` state and that a naive parser loses:
//! **parsing resumes where it stopped**. Arguments are split off the buffer as soon as
//! they are complete and kept in `pending`; the header of the bulk being read is
//! remembered in `bulk_len`. A 10 MB argument arriving in 16 KB reads therefore costs
//! one O(1) length check per read plus the copy into the growing buffer: O(n) total.
//!
//! Length fields are never trusted for allocation: `pending` grows one argument at a
//! time as bytes arrive, and the buffer grows only with bytes actually read.
//!
//! Error strings are Redis 7.0's exactly; after one, the connection replies and closes.

use bytes::{Buf, Bytes, BytesMut};

use crate::util::parse_i64;

/// Longest inline request, or multibulk/bulk header line, Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// A protocol violation: the message is what Redis replies (without the leading `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Finds `target` the way Redis's `strchr` on the query buffer does: the search stops at the
/// first NUL byte, so a NUL before the line end hides it (the request then waits for more input,
/// up to the inline size limit, exactly as Redis behaves).
fn find_c(buf: &[u8], target: u8) -> Option<usize> {
    match memchr::memchr2(target, 0, buf) {
        Some(i) if buf[i] == target => Some(i),
        _ => None,
    }
}

fn perr(msg: &str) -> ProtocolError {
    ProtocolError(format!("ERR Protocol error: {msg}"))
}

/// A batch of complete commands, stored flat so that a pipeline of thousands of commands
/// costs two vectors that are reused from read to read, not a vector per command.
#[derive(Debug, Default)]
pub struct Batch {
    /// Every argument of every command, in order.
    args: Vec<Bytes>,
    /// `ends[i]` is one past the last argument of command `i`; strictly increasing.
    ends: Vec<usize>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Number of commands in the batch.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The arguments of command `i`.
    pub fn command(&self, i: usize) -> &[Bytes] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.args[start..self.ends[i]]
    }

    /// Appends one command.
    pub fn push(&mut self, argv: impl IntoIterator<Item = Bytes>) {
        self.args.extend(argv);
        self.ends.push(self.args.len());
    }

    /// Drops the first `n` commands (those already executed).
    pub fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if n >= self.ends.len() {
            self.clear();
            return;
        }
        let cut = self.ends[n - 1];
        self.args.drain(..cut);
        self.ends.drain(..n);
        for e in &mut self.ends {
            *e -= cut;
        }
    }

    pub fn clear(&mut self) {
        self.args.clear();
        self.ends.clear();
    }
}

/// Limits applied while parsing; both are configuration (see `config`).
#[derive(Debug, Clone, Copy)]
pub struct ParserLimits {
    /// proto-max-bulk-len: the largest bulk argument accepted; None for the master link.
    pub max_bulk_len: Option<usize>,
    /// Whether the client still has to authenticate: Redis then refuses multibulk counts
    /// above 10 and bulks above 16384 bytes, so an unauthenticated peer cannot make it buffer much.
    pub auth_required: bool,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_bulk_len: Some(512 * 1024 * 1024),
            auth_required: false,
        }
    }
}

/// Resumable request parser; one per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments of the multibulk being assembled; len < the declared count.
    pending: Vec<Bytes>,
    /// Bulk strings still expected for the current multibulk; 0 between commands.
    remaining: usize,
    /// Declared length of the bulk being read, once its `$<len>\r\n` line has been consumed.
    bulk_len: Option<usize>,
    /// Scratch for `parse_whole`: (start, end) of each argument found in the buffer. Kept
    /// to reuse its allocation from read to read.
    spans: Vec<(usize, usize)>,
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// True when a command has been started but not finished.
    pub fn is_mid_command(&self) -> bool {
        self.remaining > 0
    }

    /// Declared length of the bulk being read, once its header has been consumed. Lets tests
    /// check that a large argument's header is parsed once, not re-scanned on every read.
    pub fn pending_bulk_len(&self) -> Option<usize> {
        self.bulk_len
    }

    /// Number of arguments of the current multibulk already complete.
    pub fn pending_args(&self) -> usize {
        self.pending.len()
    }

    /// Parses every complete command in `buf` into `batch`, consuming their bytes.
    /// Incomplete input stays buffered (or in the parser's state) for the next call.
    /// On a protocol error the commands parsed before it are still in `batch`.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        batch: &mut Batch,
        limits: &ParserLimits,
    ) -> Result<(), ProtocolError> {
        // Arguments go straight into the batch; only a command still incomplete when the
        // input runs out has its arguments parked in `pending` until the next read.
        let mut start = batch.args.len();
        batch.args.append(&mut self.pending);
        let res = self.parse_into(buf, batch, limits, &mut start);
        if self.remaining > 0 {
            // Incomplete (or failed) multibulk: take its arguments out of the batch.
            self.pending.extend(batch.args.drain(start..));
            if res.is_err() {
                self.pending.clear();
            }
        }
        res
    }

    /// The loop behind `parse`. `start` is where the current command's arguments begin in
    /// `batch.args`.
    fn parse_into(
        &mut self,
        buf: &mut BytesMut,
        batch: &mut Batch,
        limits: &ParserLimits,
        start: &mut usize,
    ) -> Result<(), ProtocolError> {
        loop {
            if self.remaining == 0 {
                if buf.first() == Some(&b'*') {
                    self.parse_whole(buf, batch, limits);
                }
                *start = batch.args.len();
                if buf.is_empty() {
                    return Ok(());
                }
                if buf[0] == b'*' {
                    if !self.start_multibulk(buf, limits)? {
                        return Ok(());
                    }
                    if self.remaining == 0 {
                        continue; // `*0` or negative: an empty command, skipped like Redis
                    }
                } else {
                    match parse_inline(buf)? {
                        None => return Ok(()),
                        Some(argv) if argv.is_empty() => continue,
                        Some(argv) => {
                            batch.push(argv);
                            continue;
                        }
                    }
                }
            }
            if !self.read_bulks(buf, limits, &mut batch.args)? {
                return Ok(());
            }
            batch.ends.push(batch.args.len());
        }
    }

    /// The fast path for whole commands, the shape of nearly all traffic: finds every
    /// complete, canonical multibulk at the front of `buf` with a cursor, then splits their
    /// bytes off in one piece and slices the arguments out of it. That is one `split_to` per
    /// read instead of a `split_to` per argument and an `advance` per header line.
    ///
    /// It stops at the first command that is incomplete or out of the ordinary in any way
    /// (odd number forms, limits, empty multibulks), consuming nothing of it: the general
    /// path below takes that command from its first byte, so every error, limit and
    /// resumption behaves exactly as there.
    fn parse_whole(&mut self, buf: &mut BytesMut, batch: &mut Batch, limits: &ParserLimits) {
        let data: &[u8] = buf;
        let spans = &mut self.spans;
        spans.clear();
        let base = batch.args.len();
        // End of the last complete command found.
        let mut done = 0;
        'commands: while data.get(done) == Some(&b'*') {
            let Some((Some(count), cr)) = fast_header(&data[done..]) else {
                break;
            };
            if count <= 0 || count > i32::MAX as i64 || (count > 10 && limits.auth_required) {
                break;
            }
            let first = spans.len();
            let mut pos = done + cr + 2;
            for _ in 0..count {
                let header = match data.get(pos..) {
                    Some(rest) if rest.first() == Some(&b'$') => fast_header(rest),
                    _ => None,
                };
                let len = match header {
                    Some((Some(len), _))
                        if len >= 0
                            && limits.max_bulk_len.is_none_or(|m| len as u64 <= m as u64)
                            && (len <= 16384 || !limits.auth_required) =>
                    {
                        len as usize
                    }
                    _ => {
                        spans.truncate(first);
                        break 'commands;
                    }
                };
                let arg_start = pos + header.map_or(0, |(_, cr)| cr) + 2;
                let arg_end = arg_start + len;
                // The payload and the two bytes after it (skipped unchecked, like Redis).
                if arg_end + 2 > data.len() {
                    spans.truncate(first);
                    break 'commands;
                }
                spans.push((arg_start, arg_end));
                pos = arg_end + 2;
            }
            batch.ends.push(base + spans.len());
            done = pos;
        }
        if done == 0 {
            return;
        }
        let chunk = buf.split_to(done).freeze();
        batch
            .args
            .extend(spans.iter().map(|&(start, end)| chunk.slice(start..end)));
    }

    /// Reads `*<count>\r\n`. Returns false when the line is incomplete.
    fn start_multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParserLimits,
    ) -> Result<bool, ProtocolError> {
        let (count, cr) = match fast_header(buf) {
            Some(h) => h,
            None => {
                let Some(cr) = find_c(buf, b'\r') else {
                    if buf.len() > INLINE_MAX_SIZE {
                        return Err(perr("too big mbulk count string"));
                    }
                    return Ok(false);
                };
                if cr + 1 >= buf.len() {
                    return Ok(false); // the '\n' has not arrived yet
                }
                (parse_i64(&buf[1..cr]), cr)
            }
        };
        let count = match count {
            Some(n) if n <= i32::MAX as i64 => n,
            _ => return Err(perr("invalid multibulk length")),
        };
        if count > 10 && limits.auth_required {
            return Err(perr("unauthenticated multibulk length"));
        }
        buf.advance(cr + 2);
        self.remaining = count.max(0) as usize;
        Ok(true)
    }

    /// Reads bulk strings until the multibulk is complete (true) or input runs out (false).
    fn read_bulks(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParserLimits,
        args: &mut Vec<Bytes>,
    ) -> Result<bool, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let fast = if buf.first() == Some(&b'$') {
                        fast_header(buf)
                    } else {
                        None
                    };
                    let (parsed, cr) = match fast {
                        Some(h) => h,
                        None => {
                            let Some(cr) = find_c(buf, b'\r') else {
                                if buf.len() > INLINE_MAX_SIZE {
                                    return Err(perr("too big bulk count string"));
                                }
                                return Ok(false);
                            };
                            if cr + 1 >= buf.len() {
                                return Ok(false);
                            }
                            if buf[0] != b'$' {
                                return Err(ProtocolError(format!(
                                    "ERR Protocol error: expected '$', got '{}'",
                                    buf[0] as char
                                )));
                            }
                            (parse_i64(&buf[1..cr]), cr)
                        }
                    };
                    let len = match parsed {
                        Some(n)
                            if n >= 0
                                && limits.max_bulk_len.is_none_or(|m| n as u64 <= m as u64) =>
                        {
                            n as usize
                        }
                        _ => return Err(perr("invalid bulk length")),
                    };
                    if len > 16384 && limits.auth_required {
                        return Err(perr("unauthenticated bulk length"));
                    }
                    buf.advance(cr + 2);
                    self.bulk_len = Some(len);
                    len
                }
            };
            // Like Redis, the two bytes after the payload are skipped, not checked.
            if buf.len() < len + 2 {
                // Grow by what has arrived, never by what the header claims.
                return Ok(false);
            }
            let arg = buf.split_to(len).freeze();
            buf.advance(2);
            args.push(arg);
            self.bulk_len = None;
            self.remaining -= 1;
        }
        Ok(true)
    }
}

/// The common case of a `*<n>\r\n` / `$<n>\r\n` header, without a SIMD search: a canonical
/// decimal (optional '-', no leading zeros, at most 18 digits) directly followed by CRLF.
/// Returns (value, index of the CR). Anything else — incomplete, odd or invalid — returns
/// None and takes the exact general path, so results never differ from it.
#[inline]
fn fast_header(buf: &[u8]) -> Option<(Option<i64>, usize)> {
    let neg = buf.get(1) == Some(&b'-');
    let digits = if neg { 2 } else { 1 };
    let mut i = digits;
    let mut v: i64 = 0;
    let limit = buf.len().min(digits + 18);
    while i < limit && buf[i].is_ascii_digit() {
        v = v * 10 + (buf[i] - b'0') as i64;
        i += 1;
    }
    let n = i - digits;
    let canonical = n > 0 && (buf[digits] != b'0' || (n == 1 && !neg));
    if canonical && i + 1 < buf.len() && buf[i] == b'\r' {
        Some((Some(if neg { -v } else { v }), i))
    } else {
        None
    }
}

/// Parses one inline command (a line split like `sdssplitargs`). None when no newline yet.
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = find_c(buf, b'\n') else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(perr("too big inline request"));
        }
        return Ok(None);
    };
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let args = split_args(&buf[..line_end]).ok_or_else(|| perr("unbalanced quotes in request"))?;
    buf.advance(nl + 1);
    Ok(Some(args.into_iter().map(Bytes::from).collect()))
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Splits a line into arguments exactly like Redis's `sdssplitargs`: whitespace separates,
/// "double quotes" understand \n \r \t \b \a \\ \" and \xHH, 'single quotes' only \',
/// and a closing quote must be followed by whitespace or the end. None means unbalanced.
/// Also used by the config file parser, which has the same syntax.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    cur.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Result<(), ProtocolError>) {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut batch = Batch::new();
        let r = p.parse(&mut buf, &mut batch, &ParserLimits::default());
        let cmds = (0..batch.len())
            .map(|i| batch.command(i).iter().map(|b| b.to_vec()).collect())
            .collect();
        (cmds, r)
    }

    #[test]
    fn multibulk_and_inline() {
        let (cmds, r) = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\n");
        assert!(r.is_ok());
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(
            cmds[2],
            vec![b"set".to_vec(), b"a".to_vec(), b"b c".to_vec()]
        );
    }

    #[test]
    fn resumes_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut p = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut batch = Batch::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            p.parse(&mut buf, &mut batch, &ParserLimits::default())
                .unwrap();
        }
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.command(0)[2].as_ref(), b"value");
    }

    #[test]
    fn errors_match_redis() {
        assert_eq!(
            parse_all(b"*x\r\n").1.unwrap_err().0,
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\nx\r\n").1.unwrap_err().0,
            "ERR Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-1\r\n").1.unwrap_err().0,
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            parse_all(b"set \"a\n").1.unwrap_err().0,
            "ERR Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn huge_declared_length_allocates_nothing() {
        let (cmds, r) = parse_all(b"*2147483647\r\n$536870912\r\nab");
        assert!(r.is_ok());
        assert!(cmds.is_empty());
    }

    #[test]
    fn fast_header_agrees_with_the_general_path() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let alphabet = b"0123456789-+\r\n\0 a";
        let mut inputs: Vec<Vec<u8>> = [
            "$3\r\n",
            "*0\r\n",
            "$-1\r\n",
            "$-0\r\n",
            "$03\r\n",
            "$3\r",
            "$\r\n",
            "$9223372036854775807\r\n",
            "$99999999999999999999\r\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for _ in 0..20_000 {
            let n = rng.gen_range(1..24);
            let mut v = vec![b'$'];
            v.extend((0..n).map(|_| alphabet[rng.gen_range(0..alphabet.len())]));
            inputs.push(v);
        }
        for input in inputs {
            if let Some((value, cr)) = fast_header(&input) {
                // Whatever the fast path accepts, the general path reads identically.
                assert_eq!(find_c(&input, b'\r'), Some(cr), "{input:?}");
                assert!(cr + 1 < input.len());
                assert_eq!(value, parse_i64(&input[1..cr]), "{input:?}");
            }
        }
    }

    /// Parses `input` delivered in pieces of the given sizes (the last piece takes the rest).
    fn parse_in_pieces(
        input: &[u8],
        sizes: &[usize],
        limits: &ParserLimits,
    ) -> (Vec<Vec<Vec<u8>>>, Result<(), ProtocolError>) {
        let mut p = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut batch = Batch::new();
        let mut rest = input;
        let mut sizes = sizes.iter();
        let mut res = Ok(());
        while !rest.is_empty() && res.is_ok() {
            let n = sizes.next().map_or(rest.len(), |&n| n.clamp(1, rest.len()));
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            res = p.parse(&mut buf, &mut batch, limits);
        }
        let cmds = (0..batch.len())
            .map(|i| batch.command(i).iter().map(|b| b.to_vec()).collect())
            .collect();
        (cmds, res)
    }

    #[test]
    fn whole_command_fast_path_agrees_with_the_general_path() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
        // Well-formed commands, odd but valid forms the fast path leaves to the general one,
        // inline commands, and invalid input.
        let pieces: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*1\r\n$4\r\nSPOP\r\n",
            b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\nvalue\r\n",
            b"*2\r\n$03\r\nGET\r\n$1\r\nk\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"PING\r\n",
            b"*12\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n",
            b"*1\r\n$20000\r\n",
            b"*1\r\nx\r\n",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$2\r\nabXY",
        ];
        let strict = ParserLimits {
            max_bulk_len: Some(100),
            auth_required: true,
        };
        for round in 0..3_000 {
            let mut input = Vec::new();
            for _ in 0..rng.gen_range(1..8) {
                input.extend_from_slice(pieces[rng.gen_range(0..pieces.len())]);
            }
            let limits = if round % 2 == 0 {
                ParserLimits::default()
            } else {
                strict
            };
            let sizes: Vec<usize> = (0..8).map(|_| rng.gen_range(1..40)).collect();
            let whole = parse_in_pieces(&input, &[], &limits);
            let bytewise = parse_in_pieces(&input, &vec![1; input.len()], &limits);
            let chunked = parse_in_pieces(&input, &sizes, &limits);
            assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(&input));
            assert_eq!(whole, chunked, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        assert_eq!(
            split_args(b"a \"\\x41\\n\" 'it\\'s'").unwrap(),
            vec![b"a".to_vec(), b"A\n".to_vec(), b"it's".to_vec()]
        );
        assert_eq!(split_args(b"\"\"").unwrap(), vec![Vec::<u8>::new()]);
        assert!(split_args(b"\"a\"b").is_none());
        assert!(split_args(b"'abc").is_none());
    }

    #[test]
    fn batch_consume() {
        let mut b = Batch::new();
        b.push([Bytes::from_static(b"a")]);
        b.push([Bytes::from_static(b"b"), Bytes::from_static(b"c")]);
        b.consume(1);
        assert_eq!(b.len(), 1);
        assert_eq!(b.command(0).len(), 2);
    }
}
