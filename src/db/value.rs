//! `Value`: what a key holds.
//!
//! Strings keep Redis's three encodings because OBJECT ENCODING reports them and because
//! they are what make small values cheap: `Int` (a decimal that fits i64, "int"), `Inline`
//! (up to 22 bytes inside the value itself, "embstr"), `Boxed` (an exact-size allocation,
//! "embstr" up to 44 bytes like Redis, "raw" above) and `Raw` (a growable buffer, what
//! APPEND and SETRANGE produce, "raw"). The collection types of the data-types issue join
//! this enum as boxed variants so that `Value` stays 24 bytes.

use crate::util::parse_i64;

const INLINE_CAP: usize = 22;

/// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
pub const EMBSTR_LIMIT: usize = 44;

#[derive(Clone, Debug)]
pub enum Value {
    /// A string that is the canonical decimal form of this integer.
    Int(i64),
    /// A short string; invariant `len <= 22`.
    Inline {
        len: u8,
        buf: [u8; INLINE_CAP],
    },
    /// A string in an exact-size allocation.
    Boxed(Box<[u8]>),
    /// A string in a growable buffer (after APPEND/SETRANGE).
    Raw(Box<Vec<u8>>),
    List(Box<super::list::List>),
    /// Unboxed (16 bytes): a small hash costs no extra allocation.
    Hash(super::hash::Hash),
    /// Unboxed (16 bytes): a small set costs no extra allocation.
    Set(super::set::Set),
    ZSet(Box<super::zset::ZSet>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// Redis's type names, as TYPE and SCAN TYPE spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Hash => "hash",
            ValueType::Stream => "stream",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => ValueType::String,
            b"list" => ValueType::List,
            b"set" => ValueType::Set,
            b"zset" => ValueType::ZSet,
            b"hash" => ValueType::Hash,
            b"stream" => ValueType::Stream,
            _ => return None,
        })
    }
}

/// A string value's bytes, borrowed or (for `Int`) formatted on a stack buffer.
pub enum StrRef<'a> {
    Slice(&'a [u8]),
    Int(itoa::Buffer, i64),
}

impl<'a> StrRef<'a> {
    /// The bytes. For `Int`, formats into the embedded buffer.
    pub fn bytes(&mut self) -> &[u8] {
        match self {
            StrRef::Slice(s) => s,
            StrRef::Int(buf, n) => buf.format(*n).as_bytes(),
        }
    }
}

impl Value {
    /// A string value from bytes, choosing the encoding Redis's `tryObjectEncoding` would.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::string_no_int(bytes)
    }

    /// A string value that is never int-encoded (Redis's `createStringObject`).
    pub fn string_no_int(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            Value::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Value::Boxed(bytes.into())
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Inline { .. } | Value::Boxed(_) | Value::Raw(_) => {
                ValueType::String
            }
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    pub fn is_string(&self) -> bool {
        self.value_type() == ValueType::String
    }

    /// The string's bytes; None for non-string types.
    pub fn as_str(&self) -> Option<StrRef<'_>> {
        Some(match self {
            Value::Int(n) => StrRef::Int(itoa::Buffer::new(), *n),
            Value::Inline { len, buf } => StrRef::Slice(&buf[..*len as usize]),
            Value::Boxed(b) => StrRef::Slice(b),
            Value::Raw(v) => StrRef::Slice(v),
            _ => return None,
        })
    }

    /// The string's bytes as an owned vector; None for non-strings.
    pub fn to_vec(&self) -> Option<Vec<u8>> {
        self.as_str().map(|mut s| s.bytes().to_vec())
    }

    /// String length in bytes.
    pub fn str_len(&self) -> Option<usize> {
        Some(match self {
            Value::Int(n) => itoa::Buffer::new().format(*n).len(),
            Value::Inline { len, .. } => *len as usize,
            Value::Boxed(b) => b.len(),
            Value::Raw(v) => v.len(),
            _ => return None,
        })
    }

    /// Converts a string into its growable ("raw") form and returns the buffer.
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        if !self.is_string() {
            return None;
        }
        if !matches!(self, Value::Raw(_)) {
            let bytes = self.to_vec().unwrap_or_default();
            *self = Value::Raw(Box::new(bytes));
        }
        match self {
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// True for a list, hash, set or sorted set with no elements (Redis deletes such keys).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            _ => false,
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline { .. } => "embstr",
            Value::Boxed(b) if b.len() <= EMBSTR_LIMIT => "embstr",
            Value::Boxed(_) | Value::Raw(_) => "raw",
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// Heap bytes owned beyond the 24-byte value itself (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline { .. } => 0,
            Value::Boxed(b) => b.len(),
            Value::Raw(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
            Value::List(l) => std::mem::size_of_val(&**l) + l.heap_size(),
            Value::Hash(h) => h.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => std::mem::size_of_val(&**z) + z.heap_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_like_redis() {
        assert_eq!(Value::from_bytes(b"123").encoding(), "int");
        assert_eq!(Value::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).encoding(), "raw");
        let mut v = Value::from_bytes(b"x");
        v.make_raw().unwrap().push(b'y');
        assert_eq!(v.encoding(), "raw");
        assert_eq!(v.to_vec().unwrap(), b"xy");
        assert_eq!(Value::Int(-5).to_vec().unwrap(), b"-5");
    }
}
