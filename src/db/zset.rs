//! The zset type (placeholder until its family lands).

/// A zset value.
#[derive(Clone, Debug, Default)]
pub struct ZSet {}

impl ZSet {
    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned (for memory accounting).
    pub fn heap_size(&self) -> usize {
        0
    }
}
