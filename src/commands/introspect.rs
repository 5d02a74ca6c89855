//! COMMAND: the command table as clients see it (COMMAND, COUNT, LIST, INFO, DOCS, GETKEYS,
//! GETKEYSANDFLAGS, HELP).
//!
//! The list of commands, their arity, flags and legacy key positions come from our own
//! table (`commands::table()`), so COMMAND always describes what this server runs. What
//! Redis keeps beside that — ACL categories, tips, key specs and documentation — comes from
//! `command_meta.txt`, Redis 7.0's metadata for its commands (see that file's header), so
//! that COMMAND INFO and COMMAND DOCS answer byte for byte like Redis for the commands we
//! share; a command the file does not know gets metadata derived from its spec.
//!
//! ACL categories are computed like Redis's `setImplicitACLCategories`: the flags imply
//! @write, @read, @admin+@dangerous, @pubsub, @fast, @blocking and otherwise @slow; the
//! file adds the explicit ones (@string, @keyspace, @dangerous ...). `acl_categories` is the
//! public entry point for ACL rules.
//!
//! Key extraction (GETKEYS) follows Redis's `getKeysUsingKeySpecs`: each key spec finds its
//! first key by index or keyword, then a range or a key count; SORT and MIGRATE, whose keys
//! the specs cannot describe, have their own extractors as in Redis.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::commands::flags::*;
use crate::commands::{self, CommandSpec, Ctx};
use crate::protocol::Reply;
use crate::subcmd;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "command",
    full_name: "command",
    arity: -1,
    flags: LOADING | STALE | SENTINEL,
    first_key: 0,
    last_key: 0,
    step: 0,
    handler: command_all,
    group: "server",
    summary: "Get array of Redis command details",
    since: "2.8.13",
    complexity: "O(N) where N is the total number of Redis commands",
    subcommands: SUBCOMMANDS,
}];

const CMD: u32 = LOADING | STALE | SENTINEL;

static SUBCOMMANDS: &[CommandSpec] = &[
    subcmd!(
        "command|count",
        "count",
        2,
        CMD,
        count,
        "server",
        "Get total number of Redis commands"
    ),
    subcmd!(
        "command|list",
        "list",
        -2,
        CMD,
        list,
        "server",
        "Get an array of Redis command names"
    ),
    subcmd!(
        "command|info",
        "info",
        -2,
        CMD,
        info,
        "server",
        "Get array of specific Redis command details, or all when no argument is given."
    ),
    subcmd!(
        "command|docs",
        "docs",
        -2,
        CMD,
        docs,
        "server",
        "Get array of specific Redis command documentation"
    ),
    subcmd!(
        "command|getkeys",
        "getkeys",
        -4,
        CMD,
        getkeys,
        "server",
        "Extract keys given a full Redis command"
    ),
    subcmd!(
        "command|getkeysandflags",
        "getkeysandflags",
        -4,
        CMD,
        getkeysandflags,
        "server",
        "Extract keys and access flags given a full Redis command"
    ),
    subcmd!(
        "command|help",
        "help",
        2,
        CMD,
        help,
        "server",
        "Show helpful text about the different subcommands"
    ),
];

/// ACL category names, in Redis's order (the order COMMAND INFO lists them in); bit `i` of a
/// category mask is `ACL_CATEGORIES[i]`.
pub const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category name (without '@'), case-insensitively.
pub fn acl_category_bit(name: &[u8]) -> Option<u32> {
    ACL_CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn cat(name: &str) -> u32 {
    acl_category_bit(name.as_bytes()).unwrap_or(0)
}

/// A command's ACL categories as a mask over `ACL_CATEGORIES`.
pub fn acl_categories(spec: &CommandSpec) -> u32 {
    let explicit = match meta().get(spec.full_name) {
        Some(m) => m.categories,
        None => group_category(spec.group),
    };
    let mut c = explicit;
    if spec.has(WRITE) {
        c |= cat("write");
    }
    // Scripting commands are never @read, whatever their flags.
    if spec.has(READONLY) && explicit & cat("scripting") == 0 {
        c |= cat("read");
    }
    if spec.has(ADMIN) {
        c |= cat("admin") | cat("dangerous");
    }
    if spec.has(PUBSUB) {
        c |= cat("pubsub");
    }
    if spec.has(FAST) {
        c |= cat("fast");
    }
    if spec.has(BLOCKING) {
        c |= cat("blocking");
    }
    if c & cat("fast") == 0 {
        c |= cat("slow");
    }
    c
}

/// The data-type category a command group implies, for commands without metadata.
fn group_category(group: &str) -> u32 {
    cat(match group {
        "string" => "string",
        "list" => "list",
        "set" => "set",
        "sorted-set" | "sorted_set" => "sortedset",
        "hash" => "hash",
        "stream" => "stream",
        "bitmap" => "bitmap",
        "hyperloglog" => "hyperloglog",
        "geo" => "geo",
        "pubsub" => "pubsub",
        "generic" => "keyspace",
        "transactions" => "transaction",
        "scripting" => "scripting",
        "connection" => "connection",
        _ => return 0,
    })
}

// ---------------------------------------------------------------------------------------
// The metadata file

/// A reply value from the metadata notation (see command_meta.txt's header).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<(Node, Node)>),
    Array(Vec<Node>),
    Set(Vec<Node>),
    Bulk(Cow<'static, str>),
    Status(&'static str),
    Int(i64),
}

impl Node {
    /// The value of `key` in a map.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Node::Bulk(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Bulk(s) => Some(s),
            Node::Status(s) => Some(s),
            _ => None,
        }
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Node::Int(n) => Some(*n),
            _ => None,
        }
    }

    fn items(&self) -> &[Node] {
        match self {
            Node::Array(v) | Node::Set(v) => v,
            _ => &[],
        }
    }

    /// Writes the value with the RESP types it stands for.
    pub fn write(&self, out: &mut Reply) {
        match self {
            Node::Map(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
            Node::Array(v) => {
                out.array(v.len());
                v.iter().for_each(|n| n.write(out));
            }
            Node::Set(v) => {
                out.set(v.len());
                v.iter().for_each(|n| n.write(out));
            }
            Node::Bulk(s) => out.bulk(s.as_bytes()),
            Node::Status(s) => out.simple(s),
            Node::Int(n) => out.int(*n),
        }
    }
}

/// Parses one value of the notation; `pos` advances past it.
fn parse_node(s: &'static str, pos: &mut usize) -> Result<Node, String> {
    let b = s.as_bytes();
    while *pos < b.len() && b[*pos] == b' ' {
        *pos += 1;
    }
    let Some(&c) = b.get(*pos) else {
        return Err("unexpected end".into());
    };
    let seq = |pos: &mut usize, close: u8| -> Result<Vec<Node>, String> {
        *pos += 1;
        let mut items = Vec::new();
        loop {
            while *pos < b.len() && b[*pos] == b' ' {
                *pos += 1;
            }
            match b.get(*pos) {
                Some(&x) if x == close => {
                    *pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(parse_node(s, pos)?),
                None => return Err(format!("missing '{}'", close as char)),
            }
        }
    };
    match c {
        b'{' => {
            let items = seq(pos, b'}')?;
            if items.len() % 2 != 0 {
                return Err("odd map".into());
            }
            let mut it = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Ok(Node::Map(pairs))
        }
        b'[' => Ok(Node::Array(seq(pos, b']')?)),
        b'<' => Ok(Node::Set(seq(pos, b'>')?)),
        b'"' => {
            let start = *pos + 1;
            let mut i = start;
            let mut owned: Option<String> = None;
            let mut run = start;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&s[run..i]);
                    o.push(if b[i + 1] == b'n' {
                        '\n'
                    } else {
                        b[i + 1] as char
                    });
                    i += 2;
                    run = i;
                } else {
                    i += 1;
                }
            }
            if i >= b.len() {
                return Err("unterminated string".into());
            }
            *pos = i + 1;
            Ok(Node::Bulk(match owned {
                Some(mut o) => {
                    o.push_str(&s[run..i]);
                    Cow::Owned(o)
                }
                None => Cow::Borrowed(&s[start..i]),
            }))
        }
        _ => {
            let start = *pos;
            while *pos < b.len() && !b" {}[]<>\"".contains(&b[*pos]) {
                *pos += 1;
            }
            let word = &s[start..*pos];
            if word.is_empty() {
                return Err(format!("unexpected '{}'", c as char));
            }
            if let Some(st) = word.strip_prefix('+') {
                Ok(Node::Status(st))
            } else if let Some(n) = word.strip_prefix(':') {
                n.parse().map(Node::Int).map_err(|_| format!("bad int {n}"))
            } else {
                Ok(Node::Bulk(Cow::Borrowed(word)))
            }
        }
    }
}

fn parse_all(s: &'static str) -> Result<Node, String> {
    let mut pos = 0;
    let n = parse_node(s, &mut pos)?;
    if s[pos..].trim().is_empty() {
        Ok(n)
    } else {
        Err("trailing input".into())
    }
}

/// Where a key spec starts looking.
#[derive(Debug, Clone, PartialEq)]
enum Begin {
    Index(i64),
    Keyword { keyword: String, startfrom: i64 },
    Unknown,
}

/// How a key spec finds keys from its start.
#[derive(Debug, Clone, PartialEq)]
enum Find {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

/// A decoded key spec (for key extraction).
#[derive(Debug, Clone)]
struct KeySpec {
    flags: Vec<&'static str>,
    begin: Begin,
    find: Find,
}

impl KeySpec {
    fn from_node(n: &Node) -> KeySpec {
        let flags = n
            .get("flags")
            .map(|f| {
                f.items()
                    .iter()
                    .filter_map(|x| match x {
                        Node::Status(s) => Some(*s),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let int = |n: Option<&Node>, k: &str| n.and_then(|s| s.get(k)).and_then(Node::as_int);
        let bs = n.get("begin_search");
        let bspec = bs.and_then(|b| b.get("spec"));
        let begin = match bs.and_then(|b| b.get("type")).and_then(Node::as_str) {
            Some("index") => Begin::Index(int(bspec, "index").unwrap_or(0)),
            Some("keyword") => Begin::Keyword {
                keyword: bspec
                    .and_then(|s| s.get("keyword"))
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_string(),
                startfrom: int(bspec, "startfrom").unwrap_or(0),
            },
            _ => Begin::Unknown,
        };
        let fk = n.get("find_keys");
        let fspec = fk.and_then(|f| f.get("spec"));
        let find = match fk.and_then(|f| f.get("type")).and_then(Node::as_str) {
            Some("range") => Find::Range {
                lastkey: int(fspec, "lastkey").unwrap_or(0),
                keystep: int(fspec, "keystep").unwrap_or(1),
                limit: int(fspec, "limit").unwrap_or(0),
            },
            Some("keynum") => Find::Keynum {
                keynumidx: int(fspec, "keynumidx").unwrap_or(0),
                firstkey: int(fspec, "firstkey").unwrap_or(1),
                keystep: int(fspec, "keystep").unwrap_or(1),
            },
            _ => Find::Unknown,
        };
        KeySpec { flags, begin, find }
    }

    fn is_not_key(&self) -> bool {
        self.flags.contains(&"not_key")
    }
}

/// One line of command_meta.txt, decoded.
struct Meta {
    categories: u32,
    tips: Vec<&'static str>,
    /// The key specs as COMMAND INFO prints them (a set of maps).
    key_specs_node: Node,
    key_specs: Vec<KeySpec>,
    /// The docs map without "subcommands".
    docs: Node,
}

static META_TEXT: &str = include_str!("command_meta.txt");

/// The metadata table, parsed on first use. A malformed line is skipped (and logged) rather
/// than taking COMMAND down; the unit tests keep the file well-formed.
fn meta() -> &'static HashMap<&'static str, Meta> {
    static META: OnceLock<HashMap<&'static str, Meta>> = OnceLock::new();
    META.get_or_init(|| {
        let mut m = HashMap::new();
        for line in META_TEXT.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_meta_line(line) {
                Ok((name, meta)) => {
                    m.insert(name, meta);
                }
                Err(e) => tracing::warn!("command metadata: {}: {}", e, line),
            }
        }
        m
    })
}

fn parse_meta_line(line: &'static str) -> Result<(&'static str, Meta), String> {
    let mut cols = line.split('\t');
    let mut col = || cols.next().ok_or_else(|| "missing column".to_string());
    let name = col()?;
    let categories = col()?
        .split(' ')
        .filter(|c| !c.is_empty())
        .map(|c| acl_category_bit(c.as_bytes()).ok_or(format!("unknown category {c}")))
        .collect::<Result<Vec<u32>, _>>()?
        .into_iter()
        .fold(0, |a, b| a | b);
    let tips = col()?.split(' ').filter(|t| !t.is_empty()).collect();
    let key_specs_node = parse_all(col()?)?;
    let key_specs = key_specs_node
        .items()
        .iter()
        .map(KeySpec::from_node)
        .collect();
    let docs = parse_all(col()?)?;
    Ok((
        name,
        Meta {
            categories,
            tips,
            key_specs_node,
            key_specs,
            docs,
        },
    ))
}

// ---------------------------------------------------------------------------------------
// Lookups and replies

/// Finds a command by its full name ("get", "config|get"), case-insensitively.
pub fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&b| b == b'|') {
        Some(i) => {
            let parent = commands::lookup(&name[..i])?;
            commands::lookup_sub(parent, &name[i + 1..])
        }
        None => commands::lookup(name),
    }
}

/// Top-level commands sorted by name, so replies are stable.
fn sorted_commands() -> Vec<&'static CommandSpec> {
    let mut v: Vec<_> = commands::table().values().copied().collect();
    v.sort_unstable_by_key(|s| s.full_name);
    v
}

/// A key spec for a command the metadata file does not know, from its legacy positions.
fn synthesized_key_spec(spec: &CommandSpec) -> Node {
    let s = |x: &'static str| Node::Bulk(Cow::Borrowed(x));
    let flags = if spec.has(WRITE) {
        vec![Node::Status("RW"), Node::Status("update")]
    } else {
        vec![Node::Status("RO"), Node::Status("access")]
    };
    let lastkey = if spec.last_key >= 0 {
        (spec.last_key - spec.first_key) as i64
    } else {
        spec.last_key as i64
    };
    Node::Map(vec![
        (s("flags"), Node::Set(flags)),
        (
            s("begin_search"),
            Node::Map(vec![
                (s("type"), s("index")),
                (
                    s("spec"),
                    Node::Map(vec![(s("index"), Node::Int(spec.first_key as i64))]),
                ),
            ]),
        ),
        (
            s("find_keys"),
            Node::Map(vec![
                (s("type"), s("range")),
                (
                    s("spec"),
                    Node::Map(vec![
                        (s("lastkey"), Node::Int(lastkey)),
                        (s("keystep"), Node::Int(spec.step.max(1) as i64)),
                        (s("limit"), Node::Int(0)),
                    ]),
                ),
            ]),
        ),
    ])
}

/// One command's COMMAND INFO entry (Redis's `addReplyCommandInfo`).
fn write_info(out: &mut Reply, spec: &'static CommandSpec) {
    let meta = meta().get(spec.full_name);
    out.array(10);
    out.bulk(spec.full_name.as_bytes());
    out.int(spec.arity as i64);
    // MAY_REPLICATE, SENTINEL and PROTECTED are internal and never listed, as in Redis.
    let flags: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| spec.has(*bit) && *bit != MAY_REPLICATE)
        .map(|(_, n)| *n)
        .collect();
    out.set(flags.len());
    flags.iter().for_each(|f| out.simple(f));
    out.int(spec.first_key as i64);
    out.int(spec.last_key as i64);
    out.int(spec.step as i64);
    let cats = acl_categories(spec);
    out.set(cats.count_ones() as usize);
    for (i, name) in ACL_CATEGORIES.iter().enumerate() {
        if cats & (1 << i) != 0 {
            out.simple(&format!("@{name}"));
        }
    }
    match meta {
        Some(m) => {
            out.set(m.tips.len());
            m.tips.iter().for_each(|t| out.bulk(t.as_bytes()));
            m.key_specs_node.write(out);
        }
        None => {
            out.set(0);
            if spec.first_key > 0 {
                out.set(1);
                synthesized_key_spec(spec).write(out);
            } else {
                out.set(0);
            }
        }
    }
    out.set(spec.subcommands.len());
    for sub in spec.subcommands {
        write_info(out, sub);
    }
}

/// One command's COMMAND DOCS entry: Redis's documentation when known, else what our spec
/// says; containers list their subcommands.
fn write_docs(out: &mut Reply, spec: &'static CommandSpec) {
    let subs = !spec.subcommands.is_empty();
    let extra = subs as usize;
    match meta().get(spec.full_name).map(|m| &m.docs) {
        Some(Node::Map(pairs)) => {
            out.map(pairs.len() + extra);
            for (k, v) in pairs {
                k.write(out);
                v.write(out);
            }
        }
        _ => {
            let fields: Vec<(&str, &str)> = [
                ("summary", spec.summary),
                ("since", spec.since),
                ("group", spec.group),
                ("complexity", spec.complexity),
            ]
            .into_iter()
            .filter(|(k, v)| *k == "group" || !v.is_empty())
            .collect();
            out.map(fields.len() + extra);
            for (k, v) in fields {
                out.bulk(k.as_bytes());
                out.bulk(v.as_bytes());
            }
        }
    }
    if subs {
        out.bulk(b"subcommands");
        out.map(spec.subcommands.len());
        for sub in spec.subcommands {
            out.bulk(sub.full_name.as_bytes());
            write_docs(out, sub);
        }
    }
}

/// COMMAND with no subcommand: every command's info.
fn command_all(ctx: &mut Ctx) {
    let cmds = sorted_commands();
    let out = ctx.reply();
    out.array(cmds.len());
    for spec in cmds {
        write_info(out, spec);
    }
}

fn count(ctx: &mut Ctx) {
    let n = commands::table().len() as i64;
    ctx.reply().int(n);
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
fn list(ctx: &mut Ctx) {
    enum Filter {
        None,
        Module,
        AclCat(u32),
        Pattern(Bytes),
    }
    let mut filter = Filter::None;
    let argv = ctx.argv;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if argv[i].eq_ignore_ascii_case(b"filterby") && more == 2 {
            let kind = &argv[i + 1];
            let arg = &argv[i + 2];
            filter = if kind.eq_ignore_ascii_case(b"module") {
                Filter::Module
            } else if kind.eq_ignore_ascii_case(b"aclcat") {
                // An unknown category matches nothing.
                Filter::AclCat(acl_category_bit(arg).unwrap_or(0))
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                Filter::Pattern(arg.clone())
            } else {
                ctx.syntax_error();
                return;
            };
            i += 3;
        } else {
            ctx.syntax_error();
            return;
        }
    }
    let keep = |spec: &CommandSpec| match &filter {
        Filter::None => true,
        Filter::Module => false,
        Filter::AclCat(bit) => acl_categories(spec) & bit != 0,
        Filter::Pattern(p) => crate::util::glob_match(p, spec.full_name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for spec in sorted_commands() {
        if keep(spec) {
            names.push(spec.full_name);
        }
        for sub in spec.subcommands {
            if keep(sub) {
                names.push(sub.full_name);
            }
        }
    }
    ctx.reply().bulk_array(names.iter());
}

/// COMMAND INFO [name ...]: nil for names that are not commands.
fn info(ctx: &mut Ctx) {
    if ctx.argv.len() == 2 {
        command_all(ctx);
        return;
    }
    let argv = ctx.argv;
    let out = ctx.reply();
    out.array(argv.len() - 2);
    for name in &argv[2..] {
        match lookup_full_name(name) {
            Some(spec) => write_info(out, spec),
            None => out.null(),
        }
    }
}

/// COMMAND DOCS [name ...]: a map from name to docs; unknown names are left out.
fn docs(ctx: &mut Ctx) {
    let specs: Vec<&'static CommandSpec> = if ctx.argv.len() == 2 {
        sorted_commands()
    } else {
        ctx.argv[2..]
            .iter()
            .filter_map(|n| lookup_full_name(n))
            .collect()
    };
    let out = ctx.reply();
    out.map(specs.len());
    for spec in specs {
        out.bulk(spec.full_name.as_bytes());
        write_docs(out, spec);
    }
}

/// Key positions with their key-spec flags.
pub type KeyRefs = Vec<(usize, Vec<&'static str>)>;

/// The arguments do not fit the command's key specs (a key count out of range, a missing
/// key); Redis then reports "Invalid arguments specified for command".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadKeyArgs;

/// Whether a command takes key arguments at all (Redis's `doesCommandHaveKeys`).
pub fn has_keys(spec: &CommandSpec) -> bool {
    if matches!(spec.full_name, "sort" | "sort_ro" | "migrate") {
        return true;
    }
    match meta().get(spec.full_name) {
        Some(m) => m.key_specs.iter().any(|k| !k.is_not_key()),
        None => spec.first_key > 0 || spec.has(MOVABLE_KEYS),
    }
}

/// Applies one key spec to `argv` (Redis's `getKeysUsingKeySpecs` for one spec), adding
/// nothing when a keyword-based spec finds no keyword; Err when the spec cannot apply.
fn apply_spec(ks: &KeySpec, argv: &[Bytes], keys: &mut KeyRefs) -> Result<(), BadKeyArgs> {
    let argc = argv.len() as i64;
    let first = match &ks.begin {
        Begin::Index(i) => *i,
        Begin::Keyword { keyword, startfrom } => {
            let (start, end, step) = if *startfrom > 0 {
                (*startfrom, argc - 1, 1)
            } else {
                (argc + startfrom, 1, -1)
            };
            // Like Redis, the search stops before `end`: a keyword in the last position
            // has no key after it.
            let mut found = 0;
            let mut i = start;
            while i != end {
                if i >= argc || i < 1 {
                    break;
                }
                if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                    found = i + 1;
                    break;
                }
                i += step;
            }
            if found == 0 {
                return Ok(());
            }
            found
        }
        Begin::Unknown => return Err(BadKeyArgs),
    };
    let (first, last, step) = match ks.find {
        Find::Range {
            lastkey,
            keystep,
            limit,
        } => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit == 0 {
                argc + lastkey
            } else {
                first + ((argc - first) / limit + lastkey)
            };
            (first, last, keystep.max(1))
        }
        Find::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            let idx = first + keynumidx;
            if keynumidx >= argc || idx >= argc || idx < 0 {
                return Err(BadKeyArgs);
            }
            let n = crate::util::parse_i64(&argv[idx as usize])
                .filter(|n| *n >= 0)
                .ok_or(BadKeyArgs)?;
            let f = first + firstkey;
            (f, f + n - 1, keystep.max(1))
        }
        Find::Unknown => return Err(BadKeyArgs),
    };
    if last >= argc || last < first || first >= argc {
        return Err(BadKeyArgs);
    }
    let mut i = first;
    while i <= last {
        keys.push((i as usize, ks.flags.clone()));
        i += step;
    }
    Ok(())
}

/// SORT's keys: the sorted key, plus the last STORE destination (Redis's `sortGetKeys`).
fn sort_keys(argv: &[Bytes]) -> KeyRefs {
    let mut keys = vec![(1, vec!["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    if let Some(p) = store {
        keys.push((p, vec!["OW", "update"]));
    }
    keys
}

/// MIGRATE's keys: argv[3], or those after KEYS when argv[3] is empty.
fn migrate_keys(argv: &[Bytes]) -> KeyRefs {
    let flags = vec!["RW", "access", "delete"];
    let (mut first, mut num) = (3, 1);
    let mut i = 6;
    while i < argv.len() {
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"keys") {
            if argv[3].is_empty() {
                first = i + 1;
                num = argv.len() - first;
            }
            break;
        } else if a.eq_ignore_ascii_case(b"auth") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            i += 2;
        }
        i += 1;
    }
    (first..first + num)
        .filter(|&p| p < argv.len())
        .map(|p| (p, flags.clone()))
        .collect()
}

/// The key arguments of `argv` (which starts with the command name) with their flags.
/// Err when the arguments do not fit the command's key specs.
pub fn get_keys(spec: &CommandSpec, argv: &[Bytes]) -> Result<KeyRefs, BadKeyArgs> {
    match spec.full_name {
        "sort" | "sort_ro" => return Ok(sort_keys(argv)),
        "migrate" => return Ok(migrate_keys(argv)),
        _ => {}
    }
    let mut keys = Vec::new();
    match meta().get(spec.full_name) {
        Some(m) => {
            for ks in m.key_specs.iter().filter(|k| !k.is_not_key()) {
                apply_spec(ks, argv, &mut keys)?;
            }
        }
        None => {
            let flags = if spec.has(WRITE) {
                vec!["RW", "update"]
            } else {
                vec!["RO", "access"]
            };
            keys = spec
                .key_indexes(argv.len())
                .into_iter()
                .map(|i| (i, flags.clone()))
                .collect();
        }
    }
    // Commands whose access depends on the arguments (Redis's VARIABLE_FLAGS specs).
    match spec.full_name {
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            let f = if get {
                vec!["RW", "access", "update"]
            } else {
                vec!["OW", "update"]
            };
            keys.iter_mut().for_each(|k| k.1 = f.clone());
        }
        "bitfield" => {
            let f = if bitfield_readonly(argv) {
                vec!["RO", "access"]
            } else {
                vec!["RW", "access", "update"]
            };
            keys.iter_mut().for_each(|k| k.1 = f.clone());
        }
        _ => {}
    }
    Ok(keys)
}

/// Whether a BITFIELD call only reads (only GET and OVERFLOW operations).
fn bitfield_readonly(argv: &[Bytes]) -> bool {
    let mut i = 2;
    while i < argv.len() {
        let rem = argv.len() - i - 1;
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

fn getkeys_impl(ctx: &mut Ctx, with_flags: bool) {
    let argv = &ctx.argv[2..];
    let Some(spec) = resolve_for_getkeys(argv) else {
        ctx.reply().err("Invalid command specified");
        return;
    };
    if !has_keys(spec) {
        ctx.reply().err("The command has no key arguments");
        return;
    }
    if !spec.arity_ok(argv.len()) {
        ctx.reply()
            .err("Invalid number of arguments specified for command");
        return;
    }
    let keys = get_keys(spec, argv).unwrap_or_default();
    if keys.is_empty() {
        if spec.has(NO_MANDATORY_KEYS) {
            ctx.reply().array(0);
        } else {
            ctx.reply().err("Invalid arguments specified for command");
        }
        return;
    }
    let out = &mut ctx.client.out;
    out.array(keys.len());
    for (pos, flags) in keys {
        if with_flags {
            out.array(2);
            out.bulk(&argv[pos]);
            out.set(flags.len());
            flags.iter().for_each(|f| out.simple(f));
        } else {
            out.bulk(&argv[pos]);
        }
    }
}

/// The command (or subcommand, for containers) an argv runs.
fn resolve_for_getkeys(argv: &[Bytes]) -> Option<&'static CommandSpec> {
    let spec = commands::lookup(&argv[0])?;
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        return commands::lookup_sub(spec, &argv[1]);
    }
    Some(spec)
}

fn getkeys(ctx: &mut Ctx) {
    getkeys_impl(ctx, false);
}

fn getkeysandflags(ctx: &mut Ctx) {
    getkeys_impl(ctx, true);
}

fn help(ctx: &mut Ctx) {
    ctx.reply().help(&[
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Prints this help.",
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn metadata_file_parses_completely() {
        let lines = META_TEXT
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let mut n = 0;
        for line in lines {
            parse_meta_line(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            n += 1;
        }
        assert_eq!(meta().len(), n);
        assert!(n > 300);
    }

    #[test]
    fn notation() {
        let n = parse_all(r#"{a :1 "b c" <+x +y> d [e "q\"\\"]}"#).expect("parses");
        assert_eq!(
            n,
            Node::Map(vec![
                (Node::Bulk("a".into()), Node::Int(1)),
                (
                    Node::Bulk("b c".into()),
                    Node::Set(vec![Node::Status("x"), Node::Status("y")])
                ),
                (
                    Node::Bulk("d".into()),
                    Node::Array(vec![Node::Bulk("e".into()), Node::Bulk("q\"\\".into())])
                ),
            ])
        );
        let mut r = Reply::new();
        parse_all("{flags <+RO>}").expect("parses").write(&mut r);
        assert_eq!(&r.buf[..], b"*2\r\n$5\r\nflags\r\n*1\r\n+RO\r\n");
        assert!(parse_all("{a}").is_err());
        assert!(parse_all("[a").is_err());
    }

    #[test]
    fn categories_like_redis() {
        let names = |m: u32| -> Vec<&str> {
            ACL_CATEGORIES
                .iter()
                .enumerate()
                .filter(|(i, _)| m & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect()
        };
        let get = commands::lookup(b"get").expect("get exists");
        assert_eq!(names(acl_categories(get)), ["read", "string", "fast"]);
        let flushall = commands::lookup(b"flushall").expect("flushall exists");
        assert_eq!(
            names(acl_categories(flushall)),
            ["keyspace", "write", "slow", "dangerous"]
        );
        let kill = lookup_full_name(b"client|kill").expect("client kill exists");
        assert_eq!(
            names(acl_categories(kill)),
            ["admin", "slow", "dangerous", "connection"]
        );
    }

    fn keys_of(cmd: &str) -> Result<Vec<usize>, BadKeyArgs> {
        let a = argv(cmd);
        let name = String::from_utf8_lossy(&a[0]).to_lowercase();
        // A throwaway spec carrying only the name: key specs come from the metadata.
        let fake = CommandSpec {
            name: "x",
            full_name: Box::leak(name.into_boxed_str()),
            arity: -1,
            flags: 0,
            first_key: 0,
            last_key: 0,
            step: 0,
            handler: count,
            group: "",
            summary: "",
            since: "",
            complexity: "",
            subcommands: &[],
        };
        get_keys(&fake, &a).map(|k| k.into_iter().map(|(p, _)| p).collect())
    }

    #[test]
    fn key_extraction_like_redis() {
        // Expected positions checked against redis-server 7.0 COMMAND GETKEYS.
        assert_eq!(keys_of("mset a b c d"), Ok(vec![1, 3]));
        assert_eq!(keys_of("mset a b c"), Ok(vec![1, 3]));
        assert_eq!(keys_of("eval x 2 a b"), Ok(vec![3, 4]));
        assert_eq!(keys_of("eval x 3 a"), Err(BadKeyArgs));
        assert_eq!(keys_of("xread streams a b 0 0"), Ok(vec![2, 3]));
        assert_eq!(keys_of("zunionstore d 2 a b"), Ok(vec![1, 3, 4]));
        assert_eq!(keys_of("sort a by x limit 0 1 store b"), Ok(vec![1, 8]));
        assert_eq!(keys_of("migrate h p \"\" 0 5 keys a b"), Ok(vec![3]));
        assert_eq!(keys_of("migrate h p  0 5 keys a b"), Ok(vec![7, 8]));
        assert_eq!(keys_of("georadius k 1 2 3 m store dst"), Ok(vec![1, 7]));
    }
}
