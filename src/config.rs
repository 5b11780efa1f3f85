//! The config file, `duetdb.conf`, in postgresql.conf syntax.
//!
//! ```text
//!   port = 5432                     # comments after '#'
//!   listen_addresses = '127.0.0.1'  # quoted values may contain spaces ('' escapes a quote)
//!   #statement_timeout = 0          # commented-out lines document the defaults
//! ```
//!
//! `duetdb config set`, `ALTER SYSTEM SET` and `init` all go through [`ConfigFile`],
//! which edits the file in place (replacing or uncommenting the setting's line)
//! so the user's comments and layout survive. Writes are atomic (write a
//! temporary file, fsync, rename).

use std::path::{Path, PathBuf};

use crate::error::{SqlError, SqlResult};
use crate::settings::{self, Context, SETTINGS, Values};

pub const FILE_NAME: &str = "duetdb.conf";

pub struct ConfigFile {
    pub path: PathBuf,
    lines: Vec<String>,
}

/// One parsed `name = value` line.
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub value: String,
    pub line: usize,
}

impl ConfigFile {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    pub fn load(dir: &Path) -> SqlResult<ConfigFile> {
        let path = Self::path_in(dir);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| SqlError::new("58P01", format!("could not read configuration file \"{}\": {e}", path.display())))?;
        Ok(ConfigFile { path, lines: text.lines().map(str::to_string).collect() })
    }

    /// The commented template `init` writes: every user-facing setting, commented
    /// out at its default, grouped by category, plus the values given.
    pub fn template(dir: &Path, values: &[(&str, String)]) -> ConfigFile {
        let mut lines = vec![
            "# duetdb configuration file".to_string(),
            "#".to_string(),
            "# Syntax as postgresql.conf: name = value, '#' starts a comment.".to_string(),
            "# Change with `duetdb config set -D DIR NAME VALUE` or ALTER SYSTEM SET, or edit by".to_string(),
            "# hand; `duetdb config list -D DIR` shows each setting and whether a change needs".to_string(),
            "# a restart (postmaster), a reload (sighup) or neither (user).".to_string(),
        ];
        let mut category = "";
        for s in SETTINGS.iter().filter(|s| s.context != Context::Internal) {
            if s.category != category {
                category = s.category;
                lines.push(String::new());
                lines.push(format!("# - {category} -"));
            }
            let shown = settings::display(s, s.default);
            lines.push(format!("#{} = {}\t\t# {} ({})", s.name, quote(&shown), s.description, s.context.as_str()));
        }
        let mut cf = ConfigFile { path: Self::path_in(dir), lines };
        for (k, v) in values {
            cf.set_line(k, v);
        }
        cf
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.lines.iter().enumerate().filter_map(|(i, l)| parse_line(l).map(|(n, v)| Entry { name: n, value: v, line: i })).collect()
    }

    /// Applies the file to a set of values; unknown names and bad values are errors
    /// that name the line.
    pub fn apply(&self, values: &mut Values) -> SqlResult<()> {
        for e in self.entries() {
            values
                .set_unchecked(&e.name, &e.value)
                .map_err(|err| SqlError::new("F0000", format!("{} line {}: {}", self.path.display(), e.line + 1, err.message)))?;
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.entries().into_iter().rev().find(|e| e.name.eq_ignore_ascii_case(name)).map(|e| e.value)
    }

    /// Sets `name` in the file: replaces its active line, else uncomments the
    /// template line, else appends.
    pub fn set(&mut self, name: &str, value: &str) -> SqlResult<&'static settings::Setting> {
        let s = settings::find(name).ok_or_else(|| settings::unknown(name))?;
        if s.context == Context::Internal {
            return Err(SqlError::new("55P02", format!("parameter \"{}\" cannot be changed", s.name)));
        }
        let canonical = settings::normalize(s, value)?;
        self.set_line(s.name, &settings::display(s, &canonical));
        Ok(s)
    }

    /// Removes the setting (back to its default): `ALTER SYSTEM RESET`.
    pub fn reset(&mut self, name: &str) {
        self.lines.retain(|l| parse_line(l).is_none_or(|(n, _)| !n.eq_ignore_ascii_case(name)));
    }

    fn set_line(&mut self, name: &str, value: &str) {
        let new = format!("{name} = {}", quote(value));
        let active = self.lines.iter().rposition(|l| parse_line(l).is_some_and(|(n, _)| n.eq_ignore_ascii_case(name)));
        if let Some(i) = active {
            let comment = self.lines[i].find('#').map(|p| self.lines[i][p..].to_string());
            self.lines[i] = match comment {
                Some(c) => format!("{new}\t\t{c}"),
                None => new,
            };
            return;
        }
        let template = self
            .lines
            .iter()
            .position(|l| l.trim_start().strip_prefix('#').and_then(parse_line).is_some_and(|(n, _)| n.eq_ignore_ascii_case(name)));
        match template {
            Some(i) => {
                let comment = self.lines[i][1..].find('#').map(|p| self.lines[i][1 + p..].to_string());
                self.lines[i] = match comment {
                    Some(c) => format!("{new}\t\t{c}"),
                    None => new,
                };
            }
            None => self.lines.push(new),
        }
    }

    pub fn save(&self) -> SqlResult<()> {
        let tmp = self.path.with_extension("conf.tmp");
        let mut text = self.lines.join("\n");
        text.push('\n');
        std::fs::write(&tmp, text)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

fn quote(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "''"))
    }
}

/// `name = value # comment` → (name, value). Comment and blank lines → None.
fn parse_line(line: &str) -> Option<(String, String)> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') {
        return None;
    }
    let name_end = l.find(|c: char| c == '=' || c.is_whitespace())?;
    let name = l[..name_end].to_string();
    let rest = l[name_end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let value = if let Some(q) = rest.strip_prefix('\'') {
        let mut v = String::new();
        let mut chars = q.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    v.push('\'');
                } else {
                    break;
                }
            } else {
                v.push(c);
            }
        }
        v
    } else {
        rest.split('#').next().unwrap_or("").trim().to_string()
    };
    Some((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut cf = ConfigFile::template(dir.path(), &[("port", "6543".into())]);
        assert_eq!(cf.get("port").as_deref(), Some("6543"));
        cf.set("statement_timeout", "5s").unwrap();
        cf.set("listen_addresses", "127.0.0.1, ::1").unwrap();
        cf.save().unwrap();
        let back = ConfigFile::load(dir.path()).unwrap();
        assert_eq!(back.get("statement_timeout").as_deref(), Some("5s"));
        assert_eq!(back.get("listen_addresses").as_deref(), Some("127.0.0.1, ::1"));
        let mut values = Values::defaults();
        back.apply(&mut values).unwrap();
        assert_eq!(values.get("statement_timeout"), Some("5000"));
        assert_eq!(values.get("port"), Some("6543"));
        let text = std::fs::read_to_string(back.path).unwrap();
        assert!(text.contains("#max_connections = 300"), "defaults stay documented");
        assert!(cf.set("port", "banana").is_err());
        assert!(cf.set("nope", "1").is_err());
    }

    #[test]
    fn parses_postgresql_conf_lines() {
        assert_eq!(parse_line("port = 5432 # x"), Some(("port".into(), "5432".into())));
        assert_eq!(parse_line("a 'it''s' # y"), Some(("a".into(), "it's".into())));
        assert_eq!(parse_line("  # port = 1"), None);
    }
}
