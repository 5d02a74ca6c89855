//! The set type (placeholder until its family lands).

/// A set value.
#[derive(Clone, Debug, Default)]
pub struct Set {}

impl Set {
    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        "intset"
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
