//! The sorted set type: a listpack while small, a skiplist with a member index when large.
//!
//! Both encodings are Redis's, because both are observable: OBJECT ENCODING reports
//! "listpack" or "skiplist", the RDB writer emits the listpack bytes as they are, and some
//! replies differ by encoding (ZSCAN returns a listpack's score entries verbatim, so a
//! stored `-0` reads back as `0`; lex ranges over unequal scores walk the structure).
//!
//! - **Listpack**: member, score, member, score... sorted by (score, member). Scores are
//!   stored as Redis's `zzlInsertAt` stores them: an integer entry when the score is an
//!   integral value within ±2^62 (`double2ll`), otherwise its `%.17g` text (or "inf",
//!   "-inf"), read back with `strtod`. Every operation is a linear walk: the listpack holds
//!   at most `zset-max-listpack-entries` (128) pairs of at most `zset-max-listpack-value`
//!   (64) byte members.
//! - **Skiplist**: see `skiplist` — O(log n) insert, delete, rank and range lookups.
//!
//! A listpack converts to a skiplist when an insert would exceed either limit, and never
//! back, except for the results of store commands (ZUNIONSTORE ... ZRANGESTORE), which are
//! built in the encoding their final size calls for, as Redis's
//! `zsetConvertToListpackIfNeeded` does.
//!
//! Range arguments (`ScoreRange`, `LexRange`) and Redis's float parsing (`strtod`,
//! `parse_score`) live here too: they define what the ranges mean.

use std::borrow::Cow;
use std::cmp::Ordering;

use rand::Rng;

use super::listpack::Listpack;
use super::skiplist::SkipList;
use super::Elem;
use crate::protocol::reply::format_double;

/// The encoding limits (zset-max-listpack-entries / -value).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Limits {
    pub fn from_config(cfg: &crate::config::Config) -> Limits {
        Limits {
            entries: usize::try_from(cfg.zset_max_listpack_entries).unwrap_or(usize::MAX),
            value: usize::try_from(cfg.zset_max_listpack_value).unwrap_or(usize::MAX),
        }
    }
}

/// ZADD's input flags.
pub mod add_flags {
    pub const NX: u8 = 1 << 0;
    pub const XX: u8 = 1 << 1;
    pub const GT: u8 = 1 << 2;
    pub const LT: u8 = 1 << 3;
    pub const INCR: u8 = 1 << 4;
}

/// What `ZSet::add` did (Redis's ZADD_OUT_* flags plus the resulting score).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddOutcome {
    /// The score (or the incremented score) is NaN: nothing changed.
    Nan,
    /// Nothing done because of NX/XX/GT/LT.
    Nop,
    Added(f64),
    Updated(f64),
    /// The member exists with this very score.
    Same(f64),
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Listpack),
    Skiplist(Box<SkipList>),
}

/// A sorted set value.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new_listpack()
    }
}

/// A position in either encoding: a listpack member entry, or a skiplist node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pos {
    Lp(usize),
    Sl(u32),
}

// ---------------------------------------------------------------------------------------
// Numbers: strtod, string2d, d2string, double2ll
// ---------------------------------------------------------------------------------------

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Multiplies by 2^e without intermediate overflow.
fn ldexp(mut v: f64, mut e: i64) -> f64 {
    while e > 1000 {
        v *= 2f64.powi(1000);
        e -= 1000;
        if v.is_infinite() {
            return v;
        }
    }
    while e < -1000 {
        v *= 2f64.powi(-1000);
        e += 1000;
        if v == 0.0 {
            return v;
        }
    }
    v * 2f64.powi(e as i32)
}

/// Hexadecimal float body (after "0x"): (magnitude, bytes used, out of range).
fn strtod_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let (mut mant, mut exp, mut sticky, mut any) = (0u64, 0i64, false, false);
    let mut i = 0;
    let mut frac = false;
    loop {
        match s.get(i) {
            Some(&c) if c.is_ascii_hexdigit() => {
                let d = (c as char).to_digit(16).unwrap_or(0) as u64;
                any = true;
                if mant < (1 << 60) {
                    mant = mant * 16 + d;
                    if frac {
                        exp -= 4;
                    }
                } else {
                    if !frac {
                        exp += 4;
                    }
                    sticky |= d != 0;
                }
            }
            Some(b'.') if !frac => frac = true,
            _ => break,
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if let Some(&c) = s.get(i) {
        if c == b'p' || c == b'P' {
            let mut k = i + 1;
            let neg = match s.get(k) {
                Some(b'-') => {
                    k += 1;
                    true
                }
                Some(b'+') => {
                    k += 1;
                    false
                }
                _ => false,
            };
            if s.get(k).is_some_and(|c| c.is_ascii_digit()) {
                let mut e: i64 = 0;
                while let Some(&c) = s.get(k).filter(|c| c.is_ascii_digit()) {
                    e = (e * 10 + (c - b'0') as i64).min(1 << 40);
                    k += 1;
                }
                exp += if neg { -e } else { e };
                i = k;
            }
        }
    }
    if mant == 0 {
        return Some((0.0, i, false));
    }
    let v = ldexp((mant | sticky as u64) as f64, exp);
    Some((v, i, v.is_infinite() || v == 0.0))
}

/// C's `strtod` on bytes (stopping where C would: at the first byte that does not continue
/// the number, NUL included): returns the value, how many bytes were consumed (0 when no
/// number was found, like C's `endptr == str`), and whether the result is out of range in
/// the sense Redis's `string2d` rejects (overflow to ±inf, or underflow to zero).
///
/// Accepts what glibc accepts: leading whitespace, a sign, decimal and hexadecimal
/// (`0x1.8p3`) forms, "inf", "infinity" and "nan" / "nan(...)" in any case.
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let start = i;
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        return (sign * f64::INFINITY, i + n, false);
    }
    if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let mut k = 4;
            while rest
                .get(k)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                k += 1;
            }
            if rest.get(k) == Some(&b')') {
                n = k + 1;
            }
        }
        return (f64::NAN, i + n, false);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, used, range)) = strtod_hex(&rest[2..]) {
            return (sign * v, i + 2 + used, range);
        }
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one mantissa digit.
    let mut j = i;
    let (mut digits, mut nonzero) = (0usize, false);
    while let Some(&c) = s.get(j).filter(|c| c.is_ascii_digit()) {
        digits += 1;
        nonzero |= c != b'0';
        j += 1;
    }
    if s.get(j) == Some(&b'.') {
        j += 1;
        while let Some(&c) = s.get(j).filter(|c| c.is_ascii_digit()) {
            digits += 1;
            nonzero |= c != b'0';
            j += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if matches!(s.get(j), Some(b'e') | Some(b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+') | Some(b'-')) {
            k += 1;
        }
        if s.get(k).is_some_and(|c| c.is_ascii_digit()) {
            while s.get(k).is_some_and(|c| c.is_ascii_digit()) {
                k += 1;
            }
            j = k;
        }
    }
    // The consumed text is ASCII; Rust's parser rounds correctly as glibc does.
    let v = std::str::from_utf8(&s[start..j])
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(0.0);
    let range = v.is_infinite() || (v == 0.0 && nonzero);
    (v, j, range)
}

/// Redis's `string2d` (what ZADD, ZINCRBY and WEIGHTS accept): the whole argument must be
/// a number, with no leading space, not out of range, not NaN.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let (v, used, range) = strtod(s);
    if used != s.len() || range || v.is_nan() {
        return None;
    }
    Some(v)
}

/// Redis's `double2ll`: the score as an integer when it is integral and within ±2^62.
pub fn double2ll(d: f64) -> Option<i64> {
    const LIM: f64 = 4611686018427387904.0; // (double)(LLONG_MAX / 2)
    if !(-LIM..=LIM).contains(&d) {
        return None;
    }
    let ll = d as i64;
    (ll as f64 == d).then_some(ll)
}

/// A listpack score entry's value (`zzlGetScore`: integers as is, text through strtod).
#[inline]
fn lp_score(e: Elem<'_>) -> f64 {
    match e {
        Elem::Int(n) => n as f64,
        Elem::Bytes(b) => strtod(&b[..b.len().min(127)]).0,
    }
}

/// Compares an element with bytes as Redis's `zzlCompareElements` / `sdscmp` do.
#[inline]
fn elem_cmp(e: Elem<'_>, m: &[u8]) -> Ordering {
    match e {
        Elem::Bytes(b) => b.cmp(m),
        Elem::Int(n) => itoa::Buffer::new().format(n).as_bytes().cmp(m),
    }
}

// ---------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------

/// A score interval (`zrangespec`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// Redis's `zslParseRange`: `(` makes a bound exclusive; the rest goes through strtod,
    /// which must consume everything up to the string's end or first NUL; NaN is refused.
    /// (So leading spaces, hex floats, "1e999" and even an empty bound, which is 0, pass.)
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = Self::bound(min)?;
        let (max, maxex) = Self::bound(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    fn bound(s: &[u8]) -> Option<(f64, bool)> {
        // strtod sees a C string.
        let s = match memchr::memchr(0, s) {
            Some(i) => &s[..i],
            None => s,
        };
        let (ex, body) = match s.first() {
            Some(b'(') => (true, &s[1..]),
            _ => (false, s),
        };
        let (v, used, _) = strtod(body);
        if used != body.len() || v.is_nan() {
            return None;
        }
        Some((v, ex))
    }

    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Ranges that can never match anything.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexBound<'a> {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[x`
    Incl(&'a [u8]),
    /// `(x`
    Excl(&'a [u8]),
}

impl<'a> LexBound<'a> {
    /// Redis's `zslParseLexRangeItem`.
    fn parse(s: &'a [u8]) -> Option<LexBound<'a>> {
        // "+" and "-" are checked as C strings: "+\0..." is "+".
        let alone = s.len() == 1 || s.get(1) == Some(&0);
        match s.first()? {
            b'+' if alone => Some(LexBound::Max),
            b'-' if alone => Some(LexBound::Min),
            b'(' => Some(LexBound::Excl(&s[1..])),
            b'[' => Some(LexBound::Incl(&s[1..])),
            _ => None,
        }
    }

    fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            LexBound::Incl(b) | LexBound::Excl(b) => Some(b),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

/// `sdscmplex` between two bounds (the shared min/max strings compare by identity).
fn bound_cmp(a: LexBound<'_>, b: LexBound<'_>) -> Ordering {
    use LexBound::*;
    match (a, b) {
        (Min, Min) | (Max, Max) => Ordering::Equal,
        (Min, _) | (_, Max) => Ordering::Less,
        (Max, _) | (_, Min) => Ordering::Greater,
        (x, y) => x.bytes().unwrap_or(b"").cmp(y.bytes().unwrap_or(b"")),
    }
}

/// A lex interval (`zlexrangespec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    /// Redis's `zslParseLexRange`.
    pub fn parse(min: &'a [u8], max: &'a [u8]) -> Option<LexRange<'a>> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    #[inline]
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => v >= b,
            LexBound::Excl(b) => v > b,
        }
    }

    #[inline]
    pub fn lte_max(&self, v: &[u8]) -> bool {
        match self.max {
            LexBound::Max => true,
            LexBound::Min => false,
            LexBound::Incl(b) => v <= b,
            LexBound::Excl(b) => v < b,
        }
    }

    fn gte_min_elem(&self, e: Elem<'_>) -> bool {
        match e {
            Elem::Bytes(b) => self.gte_min(b),
            Elem::Int(n) => self.gte_min(itoa::Buffer::new().format(n).as_bytes()),
        }
    }

    fn lte_max_elem(&self, e: Elem<'_>) -> bool {
        match e {
            Elem::Bytes(b) => self.lte_max(b),
            Elem::Int(n) => self.lte_max(itoa::Buffer::new().format(n).as_bytes()),
        }
    }

    /// Ranges that can never match anything.
    pub fn is_empty(&self) -> bool {
        match bound_cmp(self.min, self.max) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Listpack helpers (Redis's zzl* functions)
// ---------------------------------------------------------------------------------------

/// Inserts a (member, score) pair before the entry at `pos` (`zzlInsertAt`).
fn lp_insert_pair(lp: &mut Listpack, pos: usize, member: &[u8], score: f64) {
    match double2ll(score) {
        Some(i) => lp.insert_int_at(pos, i),
        None => lp.insert_at(pos, format_double(score).as_bytes()),
    };
    lp.insert_at(pos, member);
}

/// Inserts a pair at its sorted place (`zzlInsert`).
fn lp_insert_sorted(lp: &mut Listpack, member: &[u8], score: f64) {
    let mut p = lp.first();
    while let Some(e) = p {
        let Some(sp) = lp.next(e) else { break };
        let s = lp_score(lp.at(sp));
        if s > score || (s == score && elem_cmp(lp.at(e), member) == Ordering::Greater) {
            lp_insert_pair(lp, e, member, score);
            return;
        }
        p = lp.next(sp);
    }
    let end = lp.end_pos();
    lp_insert_pair(lp, end, member, score);
}

/// Position of `member`'s entry (`zzlFind`).
fn lp_find(lp: &Listpack, member: &[u8]) -> Option<usize> {
    lp.find_from(lp.first()?, member, 1)
}

/// The score of the pair whose member is at `pos`.
#[inline]
fn lp_pair_score(lp: &Listpack, pos: usize) -> f64 {
    lp.next(pos).map_or(0.0, |sp| lp_score(lp.at(sp)))
}

/// The member of the pair before the one at `pos`.
#[inline]
fn lp_prev_pair(lp: &Listpack, pos: usize) -> Option<usize> {
    lp.prev(lp.prev(pos)?)
}

#[inline]
fn lp_next_pair(lp: &Listpack, pos: usize) -> Option<usize> {
    lp.next(lp.next(pos)?)
}

/// The last pair's member position.
#[inline]
fn lp_last_pair(lp: &Listpack) -> Option<usize> {
    lp.prev(lp.last()?)
}

// ---------------------------------------------------------------------------------------
// ZSet
// ---------------------------------------------------------------------------------------

/// Iterator over (member, score) from a position, forwards or backwards.
pub struct RangeIter<'a> {
    zs: &'a ZSet,
    cur: Option<Pos>,
    rev: bool,
}

impl<'a> Iterator for RangeIter<'a> {
    type Item = (Elem<'a>, f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let p = self.cur?;
        let item = self.zs.entry(p);
        self.cur = self.zs.step(p, self.rev);
        Some(item)
    }
}

impl ZSet {
    pub fn new_listpack() -> ZSet {
        ZSet {
            repr: Repr::Listpack(Listpack::new()),
        }
    }

    pub fn new_skiplist() -> ZSet {
        ZSet {
            repr: Repr::Skiplist(Box::default()),
        }
    }

    /// The encoding ZADD creates a key with, given its first member (`zaddGenericCommand`).
    pub fn new_for(first_member_len: usize, lim: &Limits) -> ZSet {
        if lim.entries == 0 || lim.value < first_member_len {
            ZSet::new_skiplist()
        } else {
            ZSet::new_listpack()
        }
    }

    /// Adopts a listpack of (member, score) pairs in order (the RDB loader's entry point;
    /// the caller validated the pairing and order).
    pub fn from_listpack(lp: Listpack) -> ZSet {
        ZSet {
            repr: Repr::Listpack(lp),
        }
    }

    /// Adopts a listpack from an RDB or RESTORE payload after Redis's checks for sorted
    /// sets (`lpValidateIntegrityAndDups` with pairs): an even number of entries and no
    /// member twice. None when the payload is not a valid sorted set.
    pub fn from_listpack_checked(lp: Listpack) -> Option<ZSet> {
        if !lp.len().is_multiple_of(2) {
            return None;
        }
        let mut seen = std::collections::HashSet::with_capacity(lp.len() / 2);
        let mut it = lp.iter();
        while let (Some(m), Some(_)) = (it.next(), it.next()) {
            if !seen.insert(m.to_bytes()) {
                return None;
            }
        }
        Some(ZSet::from_listpack(lp))
    }

    /// The listpack, when that is the encoding (for the RDB writer).
    pub fn listpack(&self) -> Option<&Listpack> {
        match &self.repr {
            Repr::Listpack(lp) => Some(lp),
            Repr::Skiplist(_) => None,
        }
    }

    /// Builds a set from pairs already in (score, member) order with distinct members,
    /// choosing the encoding the way Redis's store commands end up with: a listpack when
    /// the count and the longest member are within the limits.
    pub fn from_sorted<'a, I>(items: I, count: usize, max_member_len: usize, lim: &Limits) -> ZSet
    where
        I: IntoIterator<Item = (Cow<'a, [u8]>, f64)>,
    {
        if count <= lim.entries && max_member_len <= lim.value {
            let mut lp = Listpack::new();
            for (m, s) in items {
                let end = lp.end_pos();
                lp_insert_pair(&mut lp, end, &m, s);
            }
            if lp.safe_to_add(0) {
                return ZSet::from_listpack(lp);
            }
            let mut zs = ZSet::from_listpack(lp);
            zs.convert_to_skiplist();
            return zs;
        }
        let mut sl = SkipList::new();
        for (m, s) in items {
            sl.insert(&m, s);
        }
        ZSet {
            repr: Repr::Skiplist(Box::new(sl)),
        }
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Listpack(_))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.len() / 2,
            Repr::Skiplist(sl) => sl.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Listpack(lp) => lp.heap_size(),
            Repr::Skiplist(sl) => std::mem::size_of::<SkipList>() + sl.heap_size(),
        }
    }

    /// Converts a listpack to a skiplist (`zsetConvert`).
    pub fn convert_to_skiplist(&mut self) {
        let Repr::Listpack(lp) = &self.repr else {
            return;
        };
        let mut sl = SkipList::new();
        let mut it = lp.iter();
        while let (Some(m), Some(s)) = (it.next(), it.next()) {
            sl.insert(&m.to_bytes(), lp_score(s));
        }
        self.repr = Repr::Skiplist(Box::new(sl));
    }

    // --- point operations ---------------------------------------------------------------

    /// The score of `member` (`zsetScore`).
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(lp) => lp_find(lp, member).map(|p| lp_pair_score(lp, p)),
            Repr::Skiplist(sl) => sl.score(member),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Adds or updates a member as ZADD does with `flags` (`zsetAdd`), converting the
    /// encoding when the listpack would outgrow `lim`.
    pub fn add(&mut self, score: f64, member: &[u8], flags: u8, lim: &Limits) -> AddOutcome {
        use add_flags::*;
        if score.is_nan() {
            return AddOutcome::Nan;
        }
        let (incr, nx, xx, gt, lt) = (
            flags & INCR != 0,
            flags & NX != 0,
            flags & XX != 0,
            flags & GT != 0,
            flags & LT != 0,
        );
        // The update rules shared by both encodings: Err(outcome) ends the operation.
        let rules = |cur: f64| -> Result<f64, AddOutcome> {
            if nx {
                return Err(AddOutcome::Nop);
            }
            let mut score = score;
            if incr {
                score += cur;
                if score.is_nan() {
                    return Err(AddOutcome::Nan);
                }
            }
            if (lt && score >= cur) || (gt && score <= cur) {
                return Err(AddOutcome::Nop);
            }
            Ok(score)
        };
        if let Repr::Listpack(lp) = &mut self.repr {
            if let Some(pos) = lp_find(lp, member) {
                let cur = lp_pair_score(lp, pos);
                let new = match rules(cur) {
                    Ok(s) => s,
                    Err(o) => return o,
                };
                if new == cur {
                    return AddOutcome::Same(new);
                }
                lp.delete_at(pos, 2);
                lp_insert_sorted(lp, member, new);
                return AddOutcome::Updated(new);
            }
            if xx {
                return AddOutcome::Nop;
            }
            if lp.len() / 2 < lim.entries
                && member.len() <= lim.value
                && lp.safe_to_add(member.len())
            {
                lp_insert_sorted(lp, member, score);
                return AddOutcome::Added(score);
            }
            self.convert_to_skiplist();
        }
        let Repr::Skiplist(sl) = &mut self.repr else {
            return AddOutcome::Nop;
        };
        if let Some(x) = sl.find(member) {
            let cur = sl.score_of(x);
            let new = match rules(cur) {
                Ok(s) => s,
                Err(o) => return o,
            };
            if new == cur {
                return AddOutcome::Same(new);
            }
            sl.update_score(x, new);
            AddOutcome::Updated(new)
        } else if xx {
            AddOutcome::Nop
        } else {
            sl.insert(member, score);
            AddOutcome::Added(score)
        }
    }

    /// Removes `member` (`zsetDel`).
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(lp) => match lp_find(lp, member) {
                Some(p) => {
                    lp.delete_at(p, 2);
                    true
                }
                None => false,
            },
            Repr::Skiplist(sl) => sl.remove(member).is_some(),
        }
    }

    /// 0-based rank of `member`, from the lowest score or (`rev`) from the highest.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let len = self.len();
        let rank1 = match &self.repr {
            Repr::Listpack(lp) => {
                let mut p = lp.first();
                let mut r = 1;
                loop {
                    let e = p?;
                    if lp.at(e).eq_bytes(member) {
                        break r;
                    }
                    r += 1;
                    p = lp_next_pair(lp, e);
                }
            }
            Repr::Skiplist(sl) => sl.rank(sl.find(member)?),
        };
        Some(if rev { len - rank1 } else { rank1 - 1 })
    }

    // --- positions and iteration ----------------------------------------------------------

    /// The element at a position.
    #[inline]
    pub fn entry(&self, p: Pos) -> (Elem<'_>, f64) {
        match (&self.repr, p) {
            (Repr::Listpack(lp), Pos::Lp(e)) => (lp.at(e), lp_pair_score(lp, e)),
            (Repr::Skiplist(sl), Pos::Sl(x)) => (Elem::Bytes(sl.member(x)), sl.score_of(x)),
            _ => (Elem::Bytes(b""), 0.0),
        }
    }

    /// The next (or, with `rev`, previous) position.
    #[inline]
    pub fn step(&self, p: Pos, rev: bool) -> Option<Pos> {
        match (&self.repr, p) {
            (Repr::Listpack(lp), Pos::Lp(e)) => if rev {
                lp_prev_pair(lp, e)
            } else {
                lp_next_pair(lp, e)
            }
            .map(Pos::Lp),
            (Repr::Skiplist(sl), Pos::Sl(x)) => {
                if rev { sl.prev(x) } else { sl.next(x) }.map(Pos::Sl)
            }
            _ => None,
        }
    }

    /// Iterates from `start` in the given direction.
    pub fn iter_from(&self, start: Option<Pos>, rev: bool) -> RangeIter<'_> {
        RangeIter {
            zs: self,
            cur: start,
            rev,
        }
    }

    /// Every (member, score) in rank order (SORT, DEBUG DIGEST, the RDB writer).
    pub fn iter(&self) -> RangeIter<'_> {
        self.iter_from(self.by_rank(0, false), false)
    }

    /// Every (member, score) from the highest rank down.
    pub fn iter_rev(&self) -> RangeIter<'_> {
        self.iter_from(self.by_rank(0, true), true)
    }

    /// The position of 0-based `rank` (counted from the top with `rev`).
    pub fn by_rank(&self, rank: usize, rev: bool) -> Option<Pos> {
        let len = self.len();
        if rank >= len {
            return None;
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                let idx = if rev {
                    -2 - 2 * rank as i64
                } else {
                    2 * rank as i64
                };
                lp.seek(idx).map(Pos::Lp)
            }
            Repr::Skiplist(sl) => {
                if rank == 0 {
                    // The ends are O(1): pops and full iterations start there.
                    return if rev { sl.last() } else { sl.first() }.map(Pos::Sl);
                }
                let r = if rev { len - rank } else { rank + 1 };
                sl.by_rank(r).map(Pos::Sl)
            }
        }
    }

    /// The first (or with `rev` the last) element within a score range
    /// (`zzlFirstInRange`/`zslFirstInRange` and their `Last` twins).
    pub fn first_in_score(&self, r: &ScoreRange, rev: bool) -> Option<Pos> {
        if r.is_empty() {
            return None;
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                let last = lp_last_pair(lp)?;
                let first = lp.first()?;
                if !r.gte_min(lp_pair_score(lp, last)) || !r.lte_max(lp_pair_score(lp, first)) {
                    return None;
                }
                if rev {
                    let mut p = Some(last);
                    while let Some(e) = p {
                        let s = lp_pair_score(lp, e);
                        if r.lte_max(s) {
                            return r.gte_min(s).then_some(Pos::Lp(e));
                        }
                        p = lp_prev_pair(lp, e);
                    }
                } else {
                    let mut p = Some(first);
                    while let Some(e) = p {
                        let s = lp_pair_score(lp, e);
                        if r.gte_min(s) {
                            return r.lte_max(s).then_some(Pos::Lp(e));
                        }
                        p = lp_next_pair(lp, e);
                    }
                }
                None
            }
            Repr::Skiplist(sl) => {
                let (first, last) = (sl.first()?, sl.last()?);
                if !r.gte_min(sl.score_of(last)) || !r.lte_max(sl.score_of(first)) {
                    return None;
                }
                if rev {
                    let x = sl.last_where(|s, _| r.lte_max(s))?;
                    r.gte_min(sl.score_of(x)).then_some(Pos::Sl(x))
                } else {
                    let x = sl.first_not(|s, _| !r.gte_min(s))?;
                    r.lte_max(sl.score_of(x)).then_some(Pos::Sl(x))
                }
            }
        }
    }

    /// The first (or with `rev` the last) element within a lex range.
    pub fn first_in_lex(&self, r: &LexRange<'_>, rev: bool) -> Option<Pos> {
        if r.is_empty() {
            return None;
        }
        match &self.repr {
            Repr::Listpack(lp) => {
                let last = lp_last_pair(lp)?;
                let first = lp.first()?;
                if !r.gte_min_elem(lp.at(last)) || !r.lte_max_elem(lp.at(first)) {
                    return None;
                }
                if rev {
                    let mut p = Some(last);
                    while let Some(e) = p {
                        if r.lte_max_elem(lp.at(e)) {
                            return r.gte_min_elem(lp.at(e)).then_some(Pos::Lp(e));
                        }
                        p = lp_prev_pair(lp, e);
                    }
                } else {
                    let mut p = Some(first);
                    while let Some(e) = p {
                        if r.gte_min_elem(lp.at(e)) {
                            return r.lte_max_elem(lp.at(e)).then_some(Pos::Lp(e));
                        }
                        p = lp_next_pair(lp, e);
                    }
                }
                None
            }
            Repr::Skiplist(sl) => {
                let (first, last) = (sl.first()?, sl.last()?);
                if !r.gte_min(sl.member(last)) || !r.lte_max(sl.member(first)) {
                    return None;
                }
                if rev {
                    let x = sl.last_where(|_, m| r.lte_max(m))?;
                    r.gte_min(sl.member(x)).then_some(Pos::Sl(x))
                } else {
                    let x = sl.first_not(|_, m| !r.gte_min(m))?;
                    r.lte_max(sl.member(x)).then_some(Pos::Sl(x))
                }
            }
        }
    }

    /// ZCOUNT: elements within a score range (O(log n) on a skiplist, by ranks).
    pub fn count_in_score(&self, r: &ScoreRange) -> usize {
        let Some(first) = self.first_in_score(r, false) else {
            return 0;
        };
        match (&self.repr, first) {
            (Repr::Skiplist(sl), Pos::Sl(x)) => {
                let len = sl.len();
                let mut count = len - (sl.rank(x) - 1);
                if let Some(Pos::Sl(y)) = self.first_in_score(r, true) {
                    count -= len - sl.rank(y);
                }
                count
            }
            _ => self
                .iter_from(Some(first), false)
                .take_while(|(_, s)| r.lte_max(*s))
                .count(),
        }
    }

    /// ZLEXCOUNT: elements within a lex range.
    pub fn count_in_lex(&self, r: &LexRange<'_>) -> usize {
        let Some(first) = self.first_in_lex(r, false) else {
            return 0;
        };
        match (&self.repr, first) {
            (Repr::Skiplist(sl), Pos::Sl(x)) => {
                let len = sl.len();
                let mut count = len - (sl.rank(x) - 1);
                if let Some(Pos::Sl(y)) = self.first_in_lex(r, true) {
                    count -= len - sl.rank(y);
                }
                count
            }
            _ => self
                .iter_from(Some(first), false)
                .take_while(|(m, _)| r.lte_max_elem(*m))
                .count(),
        }
    }

    // --- range removal ---------------------------------------------------------------------

    /// Removes 0-based ranks `start..=end` (already clamped to the set). Returns how many.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        if start > end || start >= self.len() {
            return 0;
        }
        match &mut self.repr {
            Repr::Listpack(lp) => match lp.seek(2 * start as i64) {
                Some(p) => lp.delete_at(p, 2 * (end - start + 1)) / 2,
                None => 0,
            },
            Repr::Skiplist(sl) => sl.remove_rank_range(start + 1, end + 1),
        }
    }

    /// Removes the elements within a score range (`zzlDeleteRangeByScore` /
    /// `zslDeleteRangeByScore`).
    pub fn remove_score_range(&mut self, r: &ScoreRange) -> usize {
        if let Repr::Skiplist(sl) = &mut self.repr {
            return sl.remove_range(|s, _| !r.gte_min(s), |s, _| r.lte_max(s));
        }
        let Some(Pos::Lp(p)) = self.first_in_score(r, false) else {
            return 0;
        };
        let Repr::Listpack(lp) = &mut self.repr else {
            return 0;
        };
        let mut n = 0;
        while p != lp.end_pos() && r.lte_max(lp_pair_score(lp, p)) {
            lp.delete_at(p, 2);
            n += 1;
        }
        n
    }

    /// Removes the elements within a lex range.
    pub fn remove_lex_range(&mut self, r: &LexRange<'_>) -> usize {
        if let Repr::Skiplist(sl) = &mut self.repr {
            return sl.remove_range(|_, m| !r.gte_min(m), |_, m| r.lte_max(m));
        }
        let Some(Pos::Lp(p)) = self.first_in_lex(r, false) else {
            return 0;
        };
        let Repr::Listpack(lp) = &mut self.repr else {
            return 0;
        };
        let mut n = 0;
        while p != lp.end_pos() && r.lte_max_elem(lp.at(p)) {
            lp.delete_at(p, 2);
            n += 1;
        }
        n
    }

    // --- pops ----------------------------------------------------------------------------------

    /// Removes and returns up to `count` elements from the low (or, with `max`, high) end,
    /// in pop order.
    pub fn pop(&mut self, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
        let n = count.min(self.len());
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let Some(p) = self.by_rank(0, max) else { break };
            let (m, s) = self.entry(p);
            out.push((m.to_bytes().into_owned(), s));
            match (&mut self.repr, p) {
                (Repr::Listpack(lp), Pos::Lp(e)) => {
                    lp.delete_at(e, 2);
                }
                (Repr::Skiplist(sl), Pos::Sl(x)) => sl.remove_node(x),
                _ => break,
            }
        }
        out
    }

    /// Pops up to `count` lowest-ranked elements (ZPOPMIN, BZPOPMIN).
    pub fn pop_min(&mut self, count: usize) -> Vec<(Vec<u8>, f64)> {
        self.pop(count, false)
    }

    /// Pops up to `count` highest-ranked elements (ZPOPMAX, BZPOPMAX).
    pub fn pop_max(&mut self, count: usize) -> Vec<(Vec<u8>, f64)> {
        self.pop(count, true)
    }

    // --- random and scan -------------------------------------------------------------------

    /// A uniformly random element.
    pub fn random<R: Rng>(&self, rng: &mut R) -> Option<(Elem<'_>, f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        self.by_rank(rng.gen_range(0..len), false)
            .map(|p| self.entry(p))
    }

    /// One ZSCAN step: `f(member, score text)`; returns the next cursor. A listpack is
    /// returned whole (cursor 0) with its score entries verbatim, as Redis does; a
    /// skiplist reports about `count` elements per call with scores as `%.17g`.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'_>, &[u8])) -> u64 {
        match &self.repr {
            Repr::Listpack(lp) => {
                let mut it = lp.iter();
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    f(m, &s.to_bytes());
                }
                0
            }
            Repr::Skiplist(sl) => sl.scan(cursor, count, |m, s| {
                f(Elem::Bytes(m), format_double(s).as_bytes())
            }),
        }
    }

    /// Checks the encoding's invariants (tests).
    #[cfg(test)]
    fn check(&self) {
        if let Repr::Skiplist(sl) = &self.repr {
            sl.check();
        }
        let v: Vec<(Vec<u8>, f64)> = self
            .iter()
            .map(|(m, s)| (m.to_bytes().into_owned(), s))
            .collect();
        assert_eq!(v.len(), self.len());
        for w in v.windows(2) {
            assert!(
                w[0].1 < w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0),
                "order: {w:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        entries: 128,
        value: 64,
    };

    #[test]
    fn strtod_like_glibc() {
        assert_eq!(strtod(b"1.5"), (1.5, 3, false));
        assert_eq!(strtod(b"  -2e3x"), (-2000.0, 6, false));
        assert_eq!(strtod(b"0x10"), (16.0, 4, false));
        assert_eq!(strtod(b"0x1.8p1"), (3.0, 7, false));
        assert_eq!(strtod(b"0x"), (0.0, 1, false));
        assert_eq!(strtod(b"0xg"), (0.0, 1, false));
        assert_eq!(strtod(b"1e"), (1.0, 1, false));
        assert_eq!(strtod(b"1e+"), (1.0, 1, false));
        assert_eq!(strtod(b".5"), (0.5, 2, false));
        assert_eq!(strtod(b"5."), (5.0, 2, false));
        assert_eq!(strtod(b"."), (0.0, 0, false));
        assert_eq!(strtod(b""), (0.0, 0, false));
        assert_eq!(strtod(b"+inf"), (f64::INFINITY, 4, false));
        assert_eq!(strtod(b"-Infinity"), (f64::NEG_INFINITY, 9, false));
        assert_eq!(strtod(b"infinit").1, 3);
        assert!(strtod(b"nan").0.is_nan());
        assert_eq!(strtod(b"nan(abc)").1, 8);
        assert_eq!(strtod(b"nan(abc").1, 3);
        assert_eq!(strtod(b"1e400"), (f64::INFINITY, 5, true));
        assert_eq!(strtod(b"1e-400"), (0.0, 6, true));
        assert_eq!(strtod(b"0e-400"), (0.0, 6, false));
        assert!(!strtod(b"1e-310").2);
        assert_eq!(strtod(b"1\x002"), (1.0, 1, false));
    }

    #[test]
    fn parse_score_like_string2d() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1 "), None);
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"1e-400"), None);
        assert!(parse_score(b"1e-310").is_some());
    }

    #[test]
    fn ranges_parse_like_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.minex && !r.maxex && r.min == 1.0 && r.max == f64::INFINITY);
        assert_eq!(ScoreRange::parse(b"(", b"").unwrap().min, 0.0);
        assert!(ScoreRange::parse(b" 1", b"2").is_some());
        assert!(ScoreRange::parse(b"1 ", b"2").is_none());
        assert!(ScoreRange::parse(b"nan", b"2").is_none());
        assert!(ScoreRange::parse(b"1\x00x", b"2").is_some());
        let l = LexRange::parse(b"-", b"+").unwrap();
        assert!(!l.is_empty());
        assert!(LexRange::parse(b"+", b"-").unwrap().is_empty());
        assert!(LexRange::parse(b"(a", b"[a").unwrap().is_empty());
        assert!(!LexRange::parse(b"[a", b"[a").unwrap().is_empty());
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"+x", b"+").is_none());
        assert!(LexRange::parse(b"", b"+").is_none());
    }

    #[test]
    fn double2ll_bounds() {
        assert_eq!(double2ll(3.0), Some(3));
        assert_eq!(double2ll(-0.0), Some(0));
        assert_eq!(double2ll(1.5), None);
        assert_eq!(double2ll(4611686018427387904.0), Some(1 << 62));
        assert_eq!(double2ll(4611686018427388928.0), None);
        assert_eq!(double2ll(f64::INFINITY), None);
    }

    fn pairs(z: &ZSet) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8(m.to_bytes().into_owned()).unwrap(), s))
            .collect()
    }

    #[test]
    fn listpack_stores_scores_like_redis() {
        let mut z = ZSet::new_listpack();
        z.add(1e17, b"a", 0, &LIM);
        z.add(0.1, b"b", 0, &LIM);
        z.add(-0.0, b"d", 0, &LIM);
        z.add(1e300, b"g", 0, &LIM);
        let lp = z.listpack().unwrap();
        let entries: Vec<Vec<u8>> = lp.iter().map(|e| e.to_bytes().into_owned()).collect();
        let expect: Vec<&[u8]> = vec![
            b"d",
            b"0",
            b"b",
            b"0.10000000000000001",
            b"a",
            b"100000000000000000",
            b"g",
            b"1.0000000000000001e+300",
        ];
        assert_eq!(entries, expect);
        assert!(matches!(
            lp.at(lp.next(lp.first().unwrap()).unwrap()),
            Elem::Int(0)
        ));
        assert_eq!(z.score(b"g"), Some(1e300));
    }

    /// Runs the same operations on both encodings and checks they agree.
    #[test]
    fn encodings_agree() {
        use rand::rngs::SmallRng;
        use rand::SeedableRng;
        let mut rng = SmallRng::seed_from_u64(3);
        let big = Limits {
            entries: 100_000,
            value: 100_000,
        };
        let mut a = ZSet::new_listpack();
        let mut b = ZSet::new_skiplist();
        for step in 0..3000 {
            let m = format!("{}", rng.gen_range(0..40));
            let s = rng.gen_range(-6..6) as f64 / 2.0;
            match rng.gen_range(0..7) {
                0..=3 => {
                    let f = [
                        0,
                        add_flags::INCR,
                        add_flags::GT,
                        add_flags::LT,
                        add_flags::XX,
                    ][rng.gen_range(0..5)];
                    assert_eq!(
                        a.add(s, m.as_bytes(), f, &big),
                        b.add(s, m.as_bytes(), f, &big)
                    );
                }
                4 => assert_eq!(a.remove(m.as_bytes()), b.remove(m.as_bytes())),
                5 => {
                    let r = ScoreRange {
                        min: s,
                        max: s + 1.0,
                        minex: rng.gen(),
                        maxex: rng.gen(),
                    };
                    assert_eq!(a.count_in_score(&r), b.count_in_score(&r));
                    if rng.gen_range(0..4) == 0 {
                        assert_eq!(a.remove_score_range(&r), b.remove_score_range(&r));
                    }
                }
                _ => {
                    assert_eq!(a.rank(m.as_bytes(), true), b.rank(m.as_bytes(), true));
                    if a.len() > 3 && rng.gen_range(0..6) == 0 {
                        assert_eq!(a.remove_rank_range(1, 2), b.remove_rank_range(1, 2));
                    }
                    if rng.gen_range(0..10) == 0 {
                        let max = rng.gen();
                        assert_eq!(a.pop(2, max), b.pop(2, max));
                    }
                }
            }
            a.check();
            b.check();
            assert_eq!(pairs(&a), pairs(&b), "step {step}");
        }
    }

    /// Lex ranges (meaningful when all scores are equal) on both encodings.
    #[test]
    fn lex_ranges_agree() {
        use rand::rngs::SmallRng;
        use rand::SeedableRng;
        let mut rng = SmallRng::seed_from_u64(5);
        let big = Limits {
            entries: 100_000,
            value: 100_000,
        };
        let bounds: [&[u8]; 8] = [b"-", b"+", b"[1", b"(1", b"[3", b"(35", b"[", b"(9"];
        for _ in 0..200 {
            let mut a = ZSet::new_listpack();
            let mut b = ZSet::new_skiplist();
            for _ in 0..rng.gen_range(0..30) {
                let m = format!("{}", rng.gen_range(0..50));
                a.add(0.0, m.as_bytes(), 0, &big);
                b.add(0.0, m.as_bytes(), 0, &big);
            }
            let r = LexRange::parse(
                bounds[rng.gen_range(0..bounds.len())],
                bounds[rng.gen_range(0..bounds.len())],
            )
            .unwrap();
            assert_eq!(a.count_in_lex(&r), b.count_in_lex(&r));
            for rev in [false, true] {
                let x: Vec<_> = a
                    .iter_from(a.first_in_lex(&r, rev), rev)
                    .take_while(|(m, _)| {
                        if rev {
                            r.gte_min_elem(*m)
                        } else {
                            r.lte_max_elem(*m)
                        }
                    })
                    .map(|(m, s)| (m.to_bytes().into_owned(), s))
                    .collect();
                let y: Vec<_> = b
                    .iter_from(b.first_in_lex(&r, rev), rev)
                    .take_while(|(m, _)| {
                        if rev {
                            r.gte_min_elem(*m)
                        } else {
                            r.lte_max_elem(*m)
                        }
                    })
                    .map(|(m, s)| (m.to_bytes().into_owned(), s))
                    .collect();
                assert_eq!(x, y);
                assert_eq!(x.len(), a.count_in_lex(&r));
            }
            assert_eq!(a.remove_lex_range(&r), b.remove_lex_range(&r));
            assert_eq!(pairs(&a), pairs(&b));
            a.check();
            b.check();
        }
    }

    #[test]
    fn converts_on_limits() {
        let lim = Limits {
            entries: 3,
            value: 5,
        };
        let mut z = ZSet::new_for(1, &lim);
        assert_eq!(z.encoding(), "listpack");
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.add(i as f64, m.as_bytes(), 0, &lim);
        }
        assert_eq!(z.encoding(), "listpack");
        z.add(9.0, b"d", 0, &lim);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new_for(1, &lim);
        z.add(1.0, b"toolong", 0, &lim);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::new_for(6, &lim).encoding(), "skiplist");
        assert_eq!(
            z.add(1.0, b"toolong", add_flags::INCR, &lim),
            AddOutcome::Updated(2.0)
        );
        assert_eq!(z.add(5.0, b"x", add_flags::XX, &lim), AddOutcome::Nop);
        assert_eq!(
            z.add(f64::NEG_INFINITY, b"inf", 0, &lim),
            AddOutcome::Added(f64::NEG_INFINITY)
        );
        assert_eq!(
            z.add(f64::INFINITY, b"inf", add_flags::INCR, &lim),
            AddOutcome::Nan
        );
    }
}
