//! `--vary KEY=V1,V2,…`: one key of the policy (or, with a `scenario.`
//! prefix, of every scenario) set to each value in turn.
//!
//! The key is a path into the file's TOML: dotted table keys and 0-based
//! array indices, `analysis.checks[0].max_increase`, `steps[1].pause`,
//! `scenario.traffic.rps`. A value is read as TOML (`0.01`, `5`, `true`),
//! else as a string (`5m`). The file's text is edited and read again by the
//! ordinary reader, so a value is validated exactly as if it had been
//! written in the file.

/// Which file a `--vary` edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Policy,
    Scenario,
}

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A parsed `--vary` argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    /// The argument as written, for messages.
    pub arg: String,
    /// The key as written after `scenario.`, for tables.
    pub key: String,
    pub target: Target,
    pub path: Vec<Seg>,
    pub values: Vec<String>,
}

/// Parses `KEY=V1,V2,…`.
///
/// # Errors
/// A message naming what is wrong with the argument.
pub fn parse(arg: &str) -> Result<Vary, String> {
    let (key, values) = arg
        .split_once('=')
        .ok_or_else(|| format!("--vary {arg}: write KEY=V1,V2,… (e.g. steps[0].pause=1m,5m)"))?;
    let key = key.trim();
    let (target, rest) = match key.strip_prefix("scenario.") {
        Some(rest) => (Target::Scenario, rest),
        None => (Target::Policy, key),
    };
    let path = path(rest).map_err(|e| format!("--vary {arg}: {e}"))?;
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!("--vary {arg}: an empty value"));
    }
    Ok(Vary {
        arg: arg.to_owned(),
        key: key.to_owned(),
        target,
        path,
        values,
    })
}

fn path(key: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!(
                "{key:?} is not a key path (e.g. analysis.checks[0].max_increase)"
            ));
        }
        out.push(Seg::Key(name.to_owned()));
        while !rest.is_empty() {
            let (index, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{key:?}: an index needs its closing ]"))?;
            let index = index
                .parse::<usize>()
                .map_err(|_| format!("{key:?}: [{index}] is not an array index (0, 1, …)"))?;
            out.push(Seg::Index(index));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return Err(format!("{key:?} is not a key path"));
            }
        }
    }
    Ok(out)
}

/// A value as TOML if it reads as one, else as a string.
fn value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

/// `text` with the key at `path` set to `v`: every table and array on the
/// way must exist (the last key of a table may be new, e.g. a default the
/// file leaves out).
///
/// # Errors
/// The file is not TOML, or the path leads nowhere.
pub fn set(text: &str, path: &[Seg], v: &str) -> Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_owned())?;
    let (last, walk) = path.split_last().ok_or("an empty key")?;
    let mut here = Slot::Table(&mut doc);
    let mut seen = String::new();
    for seg in walk {
        here = here.step(seg, &seen)?;
        seen.push_str(&display(seg, seen.is_empty()));
    }
    here.put(last, value(v), &seen)?;
    toml::to_string(&doc).map_err(|e| e.to_string())
}

fn display(seg: &Seg, first: bool) -> String {
    match (seg, first) {
        (Seg::Key(k), true) => k.clone(),
        (Seg::Key(k), false) => format!(".{k}"),
        (Seg::Index(i), _) => format!("[{i}]"),
    }
}

enum Slot<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
}

impl<'a> Slot<'a> {
    fn step(self, seg: &Seg, seen: &str) -> Result<Slot<'a>, String> {
        let at = |s: &Seg| format!("{seen}{}", display(s, seen.is_empty()));
        let v = match (self, seg) {
            (Slot::Table(t), Seg::Key(k)) => t
                .get_mut(k)
                .ok_or_else(|| format!("the file has no key {:?}", at(seg)))?,
            (Slot::Array(a), Seg::Index(i)) => {
                let n = a.len();
                a.get_mut(*i)
                    .ok_or_else(|| format!("{} is out of range: {seen} has {n} elements", at(seg)))?
            }
            (Slot::Table(_), Seg::Index(_)) => return Err(format!("{seen} is a table, not an array")),
            (Slot::Array(_), Seg::Key(_)) => return Err(format!("{seen} is an array: index it, e.g. {seen}[0]")),
        };
        match v {
            toml::Value::Table(t) => Ok(Slot::Table(t)),
            toml::Value::Array(a) => Ok(Slot::Array(a)),
            _ => Err(format!("{} is a value, not a table or an array", at(seg))),
        }
    }

    fn put(self, seg: &Seg, v: toml::Value, seen: &str) -> Result<(), String> {
        match (self, seg) {
            (Slot::Table(t), Seg::Key(k)) => {
                t.insert(k.clone(), v);
                Ok(())
            }
            (Slot::Array(a), Seg::Index(i)) => {
                let n = a.len();
                let slot = a
                    .get_mut(*i)
                    .ok_or_else(|| format!("[{i}] is out of range: {seen} has {n} elements"))?;
                *slot = v;
                Ok(())
            }
            (Slot::Table(_), Seg::Index(_)) => Err(format!("{seen} is a table, not an array")),
            (Slot::Array(_), Seg::Key(_)) => Err(format!("{seen} is an array: index it, e.g. {seen}[0]")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let v = parse("analysis.checks[0].max_increase=0.005, 0.01").unwrap();
        assert_eq!(v.target, Target::Policy);
        assert_eq!(
            v.path,
            vec![
                Seg::Key("analysis".into()),
                Seg::Key("checks".into()),
                Seg::Index(0),
                Seg::Key("max_increase".into())
            ]
        );
        assert_eq!(v.values, ["0.005", "0.01"]);
        assert_eq!(parse("scenario.traffic.rps=100").unwrap().target, Target::Scenario);
        assert!(parse("steps[x].pause=1m").is_err());
        assert!(parse("steps[0].pause").is_err());
        assert!(parse("steps[0].pause=1m,").is_err());
    }

    #[test]
    fn set_edits_the_value_and_keeps_the_rest() {
        let text = "name = \"p\"\nsteps = [ { weight = 1, pause = \"10m\" }, { weight = 100 } ]\n[analysis]\ninterval = \"1m\"\n";
        let out = set(text, &path("steps[0].pause").unwrap(), "5m").unwrap();
        let doc: toml::Table = out.parse().unwrap();
        assert_eq!(doc["steps"][0]["pause"].as_str(), Some("5m"));
        assert_eq!(doc["steps"][1]["weight"].as_integer(), Some(100));
        let out = set(text, &path("analysis.failure_limit").unwrap(), "2").unwrap();
        assert_eq!(
            out.parse::<toml::Table>().unwrap()["analysis"]["failure_limit"].as_integer(),
            Some(2)
        );
        assert!(
            set(text, &path("steps[5].pause").unwrap(), "1m")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            set(text, &path("analysiz.interval").unwrap(), "1m")
                .unwrap_err()
                .contains("no key")
        );
    }
}
