//! TOML config files: turns a TOML document into the config lines redis.conf syntax would
//! have, so they go through the same table (the mapping is documented in `config`).

use crate::config::parse::ConfigError;
use crate::config::table;

/// One config line made from a TOML key.
pub(crate) struct TomlLine {
    /// Line of the key in the TOML file (1-based).
    pub lineno: usize,
    /// The key's line, for error messages.
    pub text: String,
    /// Directive name and arguments.
    pub argv: Vec<Vec<u8>>,
}

/// Converts a TOML document into config lines, in the order the keys appear in the file.
pub(crate) fn to_lines(text: &str) -> Result<Vec<TomlLine>, ConfigError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::General(format!("Bad TOML config: {e}")))?;
    let mut keys: Vec<(usize, String, &String, &toml::Value)> = doc
        .iter()
        .map(|(k, v)| {
            let (lineno, line) = key_line(text, k);
            (lineno, line, k, v)
        })
        .collect();
    keys.sort_by_key(|(lineno, ..)| *lineno);

    let mut out = Vec::new();
    for (lineno, line, key, value) in keys {
        let fail = |msg: &str| ConfigError::Line {
            lineno,
            line: line.clone(),
            msg: msg.to_string(),
        };
        let multi = table::lookup(key.as_bytes()).is_some_and(|d| d.multi_arg());
        let mut push = |args: Vec<String>| {
            let mut argv = vec![key.as_bytes().to_vec()];
            argv.extend(args.into_iter().map(String::into_bytes));
            out.push(TomlLine {
                lineno,
                text: line.clone(),
                argv,
            });
        };
        match value {
            toml::Value::Table(_) => return Err(fail("TOML tables are not supported")),
            toml::Value::Array(items)
                if items.iter().all(|i| i.is_array()) && !items.is_empty() =>
            {
                // One line per inner array.
                for inner in items {
                    let mut args = Vec::new();
                    for i in inner.as_array().map(|a| a.as_slice()).unwrap_or_default() {
                        args.extend(
                            arguments(i, multi).ok_or_else(|| fail("Unsupported TOML value"))?,
                        );
                    }
                    push(args);
                }
            }
            toml::Value::Array(items) => {
                if multi {
                    let mut args = Vec::new();
                    for i in items {
                        args.extend(
                            arguments(i, true).ok_or_else(|| fail("Unsupported TOML value"))?,
                        );
                    }
                    push(args);
                } else {
                    for i in items {
                        push(arguments(i, false).ok_or_else(|| fail("Unsupported TOML value"))?);
                    }
                }
            }
            v => push(arguments(v, multi).ok_or_else(|| fail("Unsupported TOML value"))?),
        }
    }
    Ok(out)
}

/// The arguments a scalar stands for: its text, split on spaces (as CONFIG SET splits)
/// for multi-argument directives. None for values with no config meaning.
fn arguments(v: &toml::Value, multi: bool) -> Option<Vec<String>> {
    let s = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
        _ => return None,
    };
    Some(if multi {
        s.split(' ').map(String::from).collect()
    } else {
        vec![s]
    })
}

/// Where `key = ...` is in the text: (1-based line, trimmed line), or (0, "key = ...")
/// when it can't be found (quoted keys with escapes).
fn key_line(text: &str, key: &str) -> (usize, String) {
    let forms = [key.to_string(), format!("\"{key}\""), format!("'{key}'")];
    let header = format!("[{key}]");
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        if t.starts_with(&header) {
            return (i + 1, l.trim().to_string());
        }
        for f in &forms {
            if let Some(rest) = t.strip_prefix(f.as_str()) {
                if rest.trim_start().starts_with('=') {
                    return (i + 1, l.trim().to_string());
                }
            }
        }
    }
    (0, format!("{key} = ..."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, Vec<String>)> {
        to_lines(text)
            .unwrap()
            .into_iter()
            .map(|l| {
                (
                    l.lineno,
                    l.argv
                        .into_iter()
                        .map(|a| String::from_utf8(a).unwrap())
                        .collect(),
                )
            })
            .collect()
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mapping() {
        let got = lines(
            "# c\nport = 6380\ndaemonize = false\nsave = [\"3600 1\", \"300 100\"]\nbind = [\"127.0.0.1\", \"::1\"]\ninclude = [\"a.conf\", \"b.conf\"]\nclient-output-buffer-limit = [[\"normal\", 0, 0, 0], [\"replica\", \"1mb\", \"1mb\", 60]]\nlogfile = \"a b.log\"\n",
        );
        assert_eq!(
            got,
            vec![
                (2, argv(&["port", "6380"])),
                (3, argv(&["daemonize", "no"])),
                (4, argv(&["save", "3600", "1", "300", "100"])),
                (5, argv(&["bind", "127.0.0.1", "::1"])),
                (6, argv(&["include", "a.conf"])),
                (6, argv(&["include", "b.conf"])),
                (
                    7,
                    argv(&["client-output-buffer-limit", "normal", "0", "0", "0"])
                ),
                (
                    7,
                    argv(&["client-output-buffer-limit", "replica", "1mb", "1mb", "60"])
                ),
                (8, argv(&["logfile", "a b.log"])),
            ]
        );
        assert_eq!(lines("save = \"\"\n"), vec![(1, argv(&["save", ""]))]);
    }

    #[test]
    fn tables_are_rejected() {
        assert!(matches!(
            to_lines("[server]\nport = 1\n"),
            Err(ConfigError::Line { lineno: 1, .. })
        ));
        assert!(matches!(to_lines("port = "), Err(ConfigError::General(_))));
    }
}
