//! DEBUG DIGEST: an order-independent SHA1 signature of a dataset, bit-compatible with Redis.
//!
//! Tests (ours and Redis's own suite) compare `DEBUG DIGEST` across a master and its replica,
//! or before and after a reload, so the value must depend only on the logical content: which
//! keys exist in which database, their values, and whether they have an expiry. Redis gets
//! there with two primitives over SHA1 (src/debug.c):
//!
//! - `xor_digest(d, data)`: `d ^= SHA1(data)`. XOR is commutative, so folding unordered
//!   things (keys of a database, members of a set) this way ignores their order.
//! - `mix_digest(d, data)`: `d = SHA1(d ^ SHA1(data))`. Order matters, and "fo"+"obar"
//!   differs from "foo"+"bar", so it is used for sequences (a key then its value, list items).
//!
//! A key contributes `mix(key)`, `mix(be32(type))`, the value's digest, and `xor("!!expire!!")`
//! when it has an expiry (the time itself is left out: it differs between master and replica
//! clocks); that per-key digest is then `xor_digest`ed into the result. Each database that has
//! keys first mixes its index into the result, so the same data in another database gives
//! another digest. An empty dataset digests to 20 zero bytes.
//!
//! We follow the algorithm byte for byte, so our digests equal Redis 7.0's for the same data
//! (checked against redis-server in the tests below).

use super::{Db, Elem, Value, ValueType};

/// A 20-byte SHA1-sized digest.
pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// `digest ^= SHA1(data)`: folds in an element whose position must not matter.
pub fn xor_digest(digest: &mut Digest, data: &[u8]) {
    let h = sha1(data);
    for (d, h) in digest.iter_mut().zip(h) {
        *d ^= h;
    }
}

/// `digest = SHA1(digest ^ SHA1(data))`: folds in an element whose position matters.
pub fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(digest);
}

/// Redis's numeric type codes (OBJ_STRING ... OBJ_STREAM), hashed big-endian.
fn type_code(t: ValueType) -> u32 {
    match t {
        ValueType::String => 0,
        ValueType::List => 1,
        ValueType::Set => 2,
        ValueType::ZSet => 3,
        ValueType::Hash => 4,
        ValueType::Stream => 6,
    }
}

/// Helpers for the collection types, in Redis's exact shapes, so that each type's digest
/// is a few lines wherever its elements can be iterated.
pub mod fold {
    use super::{mix_digest, xor_digest, Digest};

    /// A list: every element mixed in order, head to tail.
    pub fn list_item(digest: &mut Digest, item: &[u8]) {
        mix_digest(digest, item);
    }

    /// A set: every member XORed in (order-free).
    pub fn set_member(digest: &mut Digest, member: &[u8]) {
        xor_digest(digest, member);
    }

    /// A sorted set: each (member, score) pair digested on its own (score as `%.17g`,
    /// like Redis 7.0), then XORed in.
    pub fn zset_member(digest: &mut Digest, member: &[u8], score: f64) {
        let mut ele = [0u8; 20];
        mix_digest(&mut ele, member);
        mix_digest(
            &mut ele,
            crate::protocol::reply::format_double(score).as_bytes(),
        );
        xor_digest(digest, &ele);
    }

    /// A hash: each (field, value) pair digested on its own, then XORed in.
    pub fn hash_field(digest: &mut Digest, field: &[u8], value: &[u8]) {
        let mut ele = [0u8; 20];
        mix_digest(&mut ele, field);
        mix_digest(&mut ele, value);
        xor_digest(digest, &ele);
    }

    /// A stream entry: its id as `<ms>.<seq>`, then each field and value, all mixed.
    pub fn stream_entry(digest: &mut Digest, ms: u64, seq: u64, fields: &[(&[u8], &[u8])]) {
        mix_digest(digest, format!("{ms}.{seq}").as_bytes());
        for (f, v) in fields {
            mix_digest(digest, f);
            mix_digest(digest, v);
        }
    }
}

/// Runs `f` on an element's string form (integers are formatted on the stack, as Redis's
/// `ll2string` does before hashing them).
fn with_bytes<R>(e: Elem<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    match e {
        Elem::Bytes(b) => f(b),
        Elem::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
    }
}

/// Folds one value (and whether its key has an expiry) into `digest`: Redis's
/// `xorObjectDigest`, which is also what DEBUG DIGEST-VALUE reports per key.
pub fn value_digest(digest: &mut Digest, value: &Value, has_expire: bool) {
    let t = value.value_type();
    mix_digest(digest, &type_code(t).to_be_bytes());
    match value {
        Value::List(l) => {
            for e in l.iter() {
                with_bytes(e, |b| fold::list_item(digest, b));
            }
        }
        Value::Set(s) => {
            for e in s.iter() {
                with_bytes(e, |b| fold::set_member(digest, b));
            }
        }
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                with_bytes(m, |b| fold::zset_member(digest, b, score));
            }
        }
        Value::Hash(h) => {
            for (f, v) in h.iter() {
                with_bytes(f, |f| with_bytes(v, |v| fold::hash_field(digest, f, v)));
            }
        }
        _ => {
            if let Some(mut s) = value.as_str() {
                mix_digest(digest, s.bytes());
            }
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

/// The digest of one key: its name, then its value.
pub fn key_digest(key: &[u8], value: &Value, has_expire: bool) -> Digest {
    let mut d = [0u8; 20];
    mix_digest(&mut d, key);
    value_digest(&mut d, value, has_expire);
    d
}

/// The digest of a whole dataset (DEBUG DIGEST). Logically expired keys still count, as in
/// Redis, which walks the tables without expiring anything.
pub fn dataset_digest(dbs: &[Db]) -> Digest {
    let mut out = [0u8; 20];
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix_digest(&mut out, &(i as u32).to_be_bytes());
        db.dict().for_each(|e| {
            // Like Redis, the key's digest is itself hashed before being XORed in.
            let d = key_digest(e.key.as_bytes(), &e.value, e.expire_at != 0);
            xor_digest(&mut out, &d);
        });
    }
    out
}

/// Lowercase hex, as DEBUG DIGEST prints it.
pub fn to_hex(d: &Digest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(40);
    for b in d {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values were produced by redis-server 7.0.15 (DEBUG DIGEST / DIGEST-VALUE).

    #[test]
    fn empty_dataset_is_zero() {
        let dbs: Vec<Db> = (0..16).map(Db::new).collect();
        assert_eq!(to_hex(&dataset_digest(&dbs)), "0".repeat(40));
    }

    #[test]
    fn matches_redis_for_strings() {
        let mut dbs: Vec<Db> = (0..16).map(Db::new).collect();
        dbs[0].set(b"foo", Value::from_bytes(b"bar"), false, 0);
        assert_eq!(
            to_hex(&dataset_digest(&dbs)),
            "d2ab4820c1be0580ea28efbfe8bfa1dc05bb802a"
        );
        dbs[0].set(b"n", Value::from_bytes(b"123"), false, 0);
        assert_eq!(
            to_hex(&dataset_digest(&dbs)),
            "2ccff0254b97d2824823e394089c36dc9612627d"
        );
        dbs[0].set_expire(b"n", 1);
        assert_eq!(
            to_hex(&dataset_digest(&dbs)),
            "7410b8d2b6f14038413a541a198960daaedb643e"
        );
    }

    #[test]
    fn value_digests_match_redis() {
        let mut d = [0u8; 20];
        value_digest(&mut d, &Value::from_bytes(b"bar"), false);
        assert_eq!(to_hex(&d), "68467c70ae30376e7ce005bcc8827f5ba7fd67dc");
        let mut d = [0u8; 20];
        value_digest(&mut d, &Value::from_bytes(b"123"), true);
        assert_eq!(to_hex(&d), "6f720be4ac4df2a2a7c35fa640511a20a52ceda8");
    }

    #[test]
    fn collection_helpers_match_redis() {
        let start = |t: u32| {
            let mut d = [0u8; 20];
            mix_digest(&mut d, &t.to_be_bytes());
            d
        };
        let mut z = start(3);
        fold::zset_member(&mut z, b"b", 0.1);
        fold::zset_member(&mut z, b"a", 1.5);
        assert_eq!(to_hex(&z), "09248147a8d667e310816b5412a4796dae07d20c");
        let mut s = start(2);
        fold::set_member(&mut s, b"y");
        fold::set_member(&mut s, b"x");
        assert_eq!(to_hex(&s), "36846f8a92fb6b6b824c73bf468c5bbcf5075ede");
        let mut h = start(4);
        fold::hash_field(&mut h, b"f", b"v");
        assert_eq!(to_hex(&h), "90c76e9e9f4c62d642a34fc97c7dad503b51f906");
        let mut l = start(1);
        fold::list_item(&mut l, b"a");
        fold::list_item(&mut l, b"b");
        assert_eq!(to_hex(&l), "62f55a532623cf6c3d81081db480b6fd8461eb3f");
    }

    #[test]
    fn order_and_db_matter_as_designed() {
        let mut a: Vec<Db> = (0..2).map(Db::new).collect();
        let mut b: Vec<Db> = (0..2).map(Db::new).collect();
        for k in [&b"k1"[..], b"k2", b"k3"] {
            a[0].set(k, Value::from_bytes(k), false, 0);
        }
        for k in [&b"k3"[..], b"k1", b"k2"] {
            b[0].set(k, Value::from_bytes(k), false, 0);
        }
        assert_eq!(dataset_digest(&a), dataset_digest(&b));
        let mut c: Vec<Db> = (0..2).map(Db::new).collect();
        for k in [&b"k1"[..], b"k2", b"k3"] {
            c[1].set(k, Value::from_bytes(k), false, 0);
        }
        assert_ne!(dataset_digest(&a), dataset_digest(&c));
    }
}
