//! The reply encoder: commands write RESP straight into the client's output buffer.
//!
//! There is no intermediate reply tree: a command calls `bulk`, `int`, `array` ... and the
//! bytes land in the buffer the connection will write with one syscall per batch. The
//! protocol version (RESP2 or RESP3, chosen by HELLO) decides how maps, sets, doubles,
//! nulls and pushes are spelled, exactly as Redis's `addReply*` family does.

use bytes::{BufMut, BytesMut};

/// An output buffer plus the protocol it speaks.
#[derive(Debug)]
pub struct Reply {
    /// Encoded replies not yet handed to the connection.
    pub buf: BytesMut,
    /// 2 or 3.
    pub resp: u8,
    /// Errors emitted since the executor last looked: (code, i.e. the first word) per error.
    /// The executor drains it after each command for INFO errorstats.
    pub errors: Vec<String>,
    /// While false, replies are discarded (CLIENT REPLY OFF/SKIP).
    pub enabled: bool,
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            buf: BytesMut::with_capacity(1024),
            resp: 2,
            errors: Vec::new(),
            enabled: true,
        }
    }
}

/// Writes `<prefix><n>\r\n`. Lengths and counts below 100 (nearly all of them) are written
/// as one fixed-size store rather than through the integer formatter.
#[inline]
fn put_len(buf: &mut BytesMut, prefix: u8, n: i64) {
    if (0..10).contains(&n) {
        buf.put_slice(&[prefix, b'0' + n as u8, b'\r', b'\n']);
    } else if (10..100).contains(&n) {
        let n = n as u8;
        buf.put_slice(&[prefix, b'0' + n / 10, b'0' + n % 10, b'\r', b'\n']);
    } else {
        let mut tmp = itoa::Buffer::new();
        buf.put_u8(prefix);
        buf.put_slice(tmp.format(n).as_bytes());
        buf.put_slice(b"\r\n");
    }
}

impl Reply {
    pub fn new() -> Reply {
        Reply::default()
    }

    pub fn is_resp3(&self) -> bool {
        self.resp >= 3
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.raw(b"+OK\r\n");
    }

    /// Raw protocol bytes, already encoded.
    pub fn raw(&mut self, bytes: &[u8]) {
        if self.enabled {
            self.buf.put_slice(bytes);
        }
    }

    /// `+<s>`: s must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        if self.enabled {
            self.buf.put_u8(b'+');
            self.buf.put_slice(s.as_bytes());
            self.buf.put_slice(b"\r\n");
        }
    }

    /// An error reply. `msg` is Redis's text without the leading '-', e.g. "ERR syntax error"
    /// or "WRONGTYPE Operation against ...". Newlines are replaced, as Redis does.
    pub fn error(&mut self, msg: &str) {
        let code = msg.split(' ').next().unwrap_or("ERR");
        self.errors.push(code.to_string());
        if !self.enabled {
            return;
        }
        self.buf.put_u8(b'-');
        for &b in msg.as_bytes() {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.put_slice(b"\r\n");
    }

    /// `-ERR <msg>`
    pub fn err(&mut self, msg: &str) {
        self.error(&format!("ERR {msg}"));
    }

    /// Like `error`, for messages that quote client bytes verbatim (Redis's `%s` of an
    /// argument is not UTF-8 sanitized, e.g. "ERR Unsupported option \xff").
    pub fn error_bytes(&mut self, msg: &[u8]) {
        let code = msg.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        self.errors.push(String::from_utf8_lossy(code).into_owned());
        if !self.enabled {
            return;
        }
        self.buf.put_u8(b'-');
        for &b in msg {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.put_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        if self.enabled {
            put_len(&mut self.buf, b':', n);
        }
    }

    pub fn bulk(&mut self, data: &[u8]) {
        if self.enabled {
            // One capacity check for the header, the payload and the CRLF.
            self.buf.reserve(data.len() + 24);
            put_len(&mut self.buf, b'$', data.len() as i64);
            self.buf.put_slice(data);
            self.buf.put_slice(b"\r\n");
        }
    }

    /// A bulk string holding an integer's decimal form.
    pub fn bulk_int(&mut self, n: i64) {
        let mut tmp = itoa::Buffer::new();
        self.bulk(tmp.format(n).as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        if self.resp >= 3 {
            self.raw(b"_\r\n");
        } else {
            self.raw(b"$-1\r\n");
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.resp >= 3 {
            self.raw(b"_\r\n");
        } else {
            self.raw(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        if self.enabled {
            put_len(&mut self.buf, b'*', n as i64);
        }
    }

    /// A map of `n` pairs: `%n` in RESP3, an array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.enabled {
            if self.resp >= 3 {
                put_len(&mut self.buf, b'%', n as i64);
            } else {
                put_len(&mut self.buf, b'*', 2 * n as i64);
            }
        }
    }

    /// A set of `n` elements: `~n` in RESP3, an array in RESP2.
    pub fn set(&mut self, n: usize) {
        if self.enabled {
            put_len(
                &mut self.buf,
                if self.resp >= 3 { b'~' } else { b'*' },
                n as i64,
            );
        }
    }

    /// An out-of-band push of `n` elements: `>n` in RESP3, an array in RESP2.
    pub fn push(&mut self, n: usize) {
        if self.enabled {
            put_len(
                &mut self.buf,
                if self.resp >= 3 { b'>' } else { b'*' },
                n as i64,
            );
        }
    }

    /// A double: `,<d>` in RESP3, a bulk string in RESP2, formatted like Redis (%.17g).
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        if self.resp >= 3 {
            if self.enabled {
                self.buf.put_u8(b',');
                self.buf.put_slice(s.as_bytes());
                self.buf.put_slice(b"\r\n");
            }
        } else {
            self.bulk(s.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        if self.resp >= 3 {
            self.raw(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// Verbatim text (`=<len>\r\ntxt:...` in RESP3, a bulk string in RESP2), as INFO uses.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp >= 3 {
            if self.enabled {
                put_len(&mut self.buf, b'=', text.len() as i64 + 4);
                self.buf.put_slice(b"txt:");
                self.buf.put_slice(text);
                self.buf.put_slice(b"\r\n");
            }
        } else {
            self.bulk(text);
        }
    }

    /// Each string as a bulk, inside an array.
    pub fn bulk_array<I, T>(&mut self, items: I)
    where
        I: ExactSizeIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.array(items.len());
        for it in items {
            self.bulk(it.as_ref());
        }
    }

    /// Help text lines as Redis's `addReplyHelp`: status strings in an array.
    pub fn help(&mut self, lines: &[&str]) {
        self.array(lines.len());
        for l in lines {
            self.simple(l);
        }
    }
}

/// Formats a double like Redis's `%.17g` replies (and "inf", "-inf", "nan").
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    format_g17(d)
}

/// C's `%.17g`.
pub fn format_g17(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = d.abs().log10().floor() as i32;
    // Use scientific formatting to learn the decimal exponent exactly.
    let sci = format!("{:.16e}", d);
    let (mant, e) = sci.split_once('e').unwrap_or((sci.as_str(), ""));
    let e: i32 = e.parse().unwrap_or(exp);
    if !(-4..17).contains(&e) {
        let mant = trim_zeros(mant);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        let decimals = (16 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_c() {
        assert_eq!(format_g17(1.5), "1.5");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(123456.0), "123456");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(3.0), "3");
    }

    #[test]
    fn resp3_shapes() {
        let mut r = Reply::new();
        r.resp = 3;
        r.map(1);
        r.null();
        r.double(1.5);
        assert_eq!(&r.buf[..], b"%1\r\n_\r\n,1.5\r\n");
        let mut r = Reply::new();
        r.map(1);
        r.null();
        r.double(1.5);
        assert_eq!(&r.buf[..], b"*2\r\n$-1\r\n$3\r\n1.5\r\n");
    }
}
