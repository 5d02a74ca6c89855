//! `Elem`: one element of a collection as its encoding stores it — bytes, or an integer
//! (intset members and listpack integers are stored as numbers and only formatted when sent).
//! Every collection iterator yields it, so commands, SORT, DEBUG DIGEST and the RDB writer
//! share one currency.

use std::borrow::Cow;

use crate::protocol::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> Elem<'a> {
    /// The element's string form.
    pub fn to_bytes(&self) -> Cow<'a, [u8]> {
        match *self {
            Elem::Bytes(b) => Cow::Borrowed(b),
            Elem::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
        }
    }

    /// Writes the element as a bulk string.
    pub fn reply(&self, out: &mut Reply) {
        match *self {
            Elem::Bytes(b) => out.bulk(b),
            Elem::Int(n) => out.bulk_int(n),
        }
    }

    /// Compares with raw bytes (an Int equals its canonical decimal form only).
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        match *self {
            Elem::Bytes(b) => b == other,
            Elem::Int(n) => itoa::Buffer::new().format(n).as_bytes() == other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_and_bytes() {
        assert_eq!(&*Elem::Int(-12).to_bytes(), b"-12");
        assert!(Elem::Int(7).eq_bytes(b"7"));
        assert!(!Elem::Int(7).eq_bytes(b"07"));
        assert!(Elem::Bytes(b"x").eq_bytes(b"x"));
    }
}
