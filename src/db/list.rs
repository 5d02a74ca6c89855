//! The list type (placeholder until its family lands).

/// A list value.
#[derive(Clone, Debug, Default)]
pub struct List {}

impl List {
    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
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
