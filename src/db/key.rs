//! `Key`: a key's bytes, stored inline when short.
//!
//! Most real keys are short (`user:1234`, `key:000000000001`), and a heap allocation per key
//! costs 16-32 bytes of allocator overhead plus a pointer chase on every lookup. Keys of up to
//! 22 bytes therefore live inside the 24-byte `Key` itself; longer keys are boxed.

use std::fmt;

const INLINE_CAP: usize = 22;

/// A key; invariant: `Inline.len <= 22`, and keys that fit inline are always stored inline,
/// so equality can compare bytes without caring about the representation.
#[derive(Clone)]
pub enum Key {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Key::Heap(bytes.into())
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, buf } => &buf[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// Heap bytes owned beyond the struct itself (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

const _: () = assert!(std::mem::size_of::<Key>() == 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        let short = Key::new(b"key:000000000001");
        assert!(matches!(short, Key::Inline { .. }));
        assert_eq!(short.as_bytes(), b"key:000000000001");
        let long = Key::new(&[b'x'; 40]);
        assert!(matches!(long, Key::Heap(_)));
        assert_eq!(long.as_bytes().len(), 40);
        assert_eq!(Key::new(b""), Key::new(b""));
    }
}
