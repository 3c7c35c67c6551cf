//! The condition language of Argo Rollouts' analysis (expr-lang), in the
//! subset real templates use: comparisons of `result`, `result[0]`,
//! `asFloat(…)`, `asInt(…)`, `default(…, d)` with numbers; `len(result)`,
//! `isNaN(…)`, `isInf(…)`, `isNil(…)` guards; `&&`, `||`, `!`, `and`,
//! `or`, `not`, parentheses.
//!
//! aviary measures one number per check, so a condition is read as the set
//! of values for which it holds ([`Truth`]), sampled at and around every
//! constant it compares with; a set that is not one interval, or a
//! condition on anything but a number (`result == "true"`,
//! `result.Status`), cannot be mapped and says so.

/// A parsed condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Str(String),
    Bool(bool),
    Ident(String),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Box<Expr>, &'static str, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
}

const OPS: [&str; 17] = [
    "&&", "||", ">=", "<=", "==", "!=", ">", "<", "!", "(", ")", "[", "]", ",", ".", "*", "/",
];

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'e' || b[i] == b'E' || b[i] == b'_')
            {
                if (b[i] == b'e' || b[i] == b'E') && matches!(b.get(i + 1), Some(b'-' | b'+')) {
                    i += 1;
                }
                i += 1;
            }
            let text = s[start..i].replace('_', "");
            out.push(Tok::Num(
                text.parse().map_err(|_| format!("bad number {:?}", &s[start..i]))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_owned()));
        } else if c == '"' || c == '\'' || c == '`' {
            let end = s[i + 1..].find(c).ok_or("an unterminated string")? + i + 1;
            out.push(Tok::Str(s[i + 1..end].to_owned()));
            i = end + 1;
        } else if c == '-' || c == '+' {
            out.push(Tok::Op(if c == '-' { "-" } else { "+" }));
            i += 1;
        } else if let Some(op) = OPS.iter().find(|op| s[i..].starts_with(**op)) {
            out.push(Tok::Op(op));
            i += op.len();
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(i)) if i == w) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat_op("||") || self.eat_word("or") {
            l = Expr::Bin(Box::new(l), "||", Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.not()?;
        while self.eat_op("&&") || self.eat_word("and") {
            l = Expr::Bin(Box::new(l), "&&", Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_op("!") || self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.sum()?;
        for op in [">=", "<=", "==", "!=", ">", "<"] {
            if self.eat_op(op) {
                return Ok(Expr::Bin(Box::new(l), op, Box::new(self.sum()?)));
            }
        }
        Ok(l)
    }
    fn sum(&mut self) -> Result<Expr, String> {
        let mut l = self.product()?;
        loop {
            if self.eat_op("+") {
                l = Expr::Bin(Box::new(l), "+", Box::new(self.product()?));
            } else if self.eat_op("-") {
                l = Expr::Bin(Box::new(l), "-", Box::new(self.product()?));
            } else {
                return Ok(l);
            }
        }
    }
    fn product(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        loop {
            if self.eat_op("*") {
                l = Expr::Bin(Box::new(l), "*", Box::new(self.unary()?));
            } else if self.eat_op("/") {
                l = Expr::Bin(Box::new(l), "/", Box::new(self.unary()?));
            } else {
                return Ok(l);
            }
        }
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat_op("+") {
            return self.unary();
        }
        self.postfix()
    }
    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat_op("[") {
                let i = self.or()?;
                if !self.eat_op("]") {
                    return Err("a missing ']'".to_owned());
                }
                e = Expr::Index(Box::new(e), Box::new(i));
            } else if self.eat_op(".") {
                match self.toks.get(self.at).cloned() {
                    Some(Tok::Ident(name)) => {
                        self.at += 1;
                        e = Expr::Member(Box::new(e), name);
                    }
                    _ => return Err("a name expected after '.'".to_owned()),
                }
            } else {
                return Ok(e);
            }
        }
    }
    fn primary(&mut self) -> Result<Expr, String> {
        let t = self.toks.get(self.at).cloned().ok_or("the condition ends too early")?;
        self.at += 1;
        match t {
            Tok::Num(x) => Ok(Expr::Num(x)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Ident(w) if w == "true" || w == "false" => Ok(Expr::Bool(w == "true")),
            Tok::Ident(w) => {
                if self.eat_op("(") {
                    let mut args = Vec::new();
                    if !self.eat_op(")") {
                        loop {
                            args.push(self.or()?);
                            if self.eat_op(")") {
                                break;
                            }
                            if !self.eat_op(",") {
                                return Err(format!("a ',' or ')' expected in the call of {w}"));
                            }
                        }
                    }
                    Ok(Expr::Call(w, args))
                } else {
                    Ok(Expr::Ident(w))
                }
            }
            Tok::Op("(") => {
                let e = self.or()?;
                if self.eat_op(")") {
                    Ok(e)
                } else {
                    Err("a missing ')'".to_owned())
                }
            }
            Tok::Op(op) => Err(format!("unexpected {op:?}")),
        }
    }
}

/// Parses a condition.
///
/// # Errors
/// A message naming the first thing not understood.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser { toks: lex(s)?, at: 0 };
    let e = p.or()?;
    if p.at != p.toks.len() {
        return Err(format!("unexpected {:?} after a whole condition", p.toks[p.at]));
    }
    Ok(e)
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Num(f64),
    Bool(bool),
    Str(String),
    /// `result` itself (a vector when the provider returns one).
    Result,
}

/// The measurement a condition is evaluated on.
#[derive(Clone, Copy)]
enum Data {
    Value(f64),
    /// The provider returned nothing (`len(result) == 0`).
    Empty,
}

fn eval(e: &Expr, d: Data) -> Result<Val, String> {
    let num = |v: Val| -> Result<f64, String> {
        match v {
            Val::Num(x) => Ok(x),
            Val::Result => match d {
                Data::Value(x) => Ok(x),
                Data::Empty => Err("no data".to_owned()),
            },
            other => Err(format!("{other:?} is not a number")),
        }
    };
    Ok(match e {
        Expr::Num(x) => Val::Num(*x),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Ident(i) if i == "result" => Val::Result,
        Expr::Ident(i) => return Err(format!("unknown name {i:?}")),
        Expr::Member(_, m) => return Err(format!("a field of the result ({m}): aviary's metrics are numbers")),
        Expr::Index(base, _) => match eval(base, d)? {
            Val::Result => match d {
                Data::Value(x) => Val::Num(x),
                Data::Empty => return Err("index out of range (no data)".to_owned()),
            },
            other => return Err(format!("cannot index {other:?}")),
        },
        Expr::Call(f, args) => match (f.as_str(), args.as_slice()) {
            ("asFloat" | "asInt", [a]) => {
                let x = num(eval(a, d)?)?;
                Val::Num(if f == "asInt" { x.trunc() } else { x })
            }
            ("isNaN", [a]) => Val::Bool(matches!(d, Data::Empty) && eval(a, d).is_err() || num(eval(a, d)?)?.is_nan()),
            ("isInf", [a]) => Val::Bool(num(eval(a, d)?)?.is_infinite()),
            ("isNil", [_]) => Val::Bool(matches!(d, Data::Empty)),
            ("len", [a]) => match eval(a, d)? {
                Val::Result => Val::Num(if matches!(d, Data::Empty) { 0.0 } else { 1.0 }),
                Val::Str(s) => Val::Num(s.len() as f64),
                other => return Err(format!("len of {other:?}")),
            },
            ("default", [a, fallback]) => match eval(a, d) {
                Ok(v) if matches!(d, Data::Value(_)) => Val::Num(num(v)?),
                _ => Val::Num(num(eval(fallback, d)?)?),
            },
            (other, _) => return Err(format!("the function {other}() is not in aviary's subset")),
        },
        Expr::Not(a) => match eval(a, d)? {
            Val::Bool(b) => Val::Bool(!b),
            other => return Err(format!("! of {other:?}")),
        },
        Expr::Neg(a) => Val::Num(-num(eval(a, d)?)?),
        Expr::Bin(l, op, r) => match *op {
            "&&" | "||" => {
                let lb = match eval(l, d)? {
                    Val::Bool(b) => b,
                    other => return Err(format!("{op} of {other:?}")),
                };
                // expr-lang short-circuits: `len(result) == 0 || result[0] > x`.
                if (*op == "&&" && !lb) || (*op == "||" && lb) {
                    return Ok(Val::Bool(lb));
                }
                match eval(r, d)? {
                    Val::Bool(b) => Val::Bool(b),
                    other => return Err(format!("{op} of {other:?}")),
                }
            }
            "+" | "-" | "*" | "/" => {
                let (a, b) = (num(eval(l, d)?)?, num(eval(r, d)?)?);
                Val::Num(match *op {
                    "+" => a + b,
                    "-" => a - b,
                    "*" => a * b,
                    _ => a / b,
                })
            }
            cmp => {
                let (lv, rv) = (eval(l, d)?, eval(r, d)?);
                if let (Val::Str(_), _) | (_, Val::Str(_)) = (&lv, &rv) {
                    return Err("a comparison with a string: aviary's metrics are numbers".to_owned());
                }
                let (a, b) = (num(lv)?, num(rv)?);
                Val::Bool(match cmp {
                    ">=" => a >= b,
                    "<=" => a <= b,
                    ">" => a > b,
                    "<" => a < b,
                    "==" => a == b,
                    _ => a != b,
                })
            }
        },
    })
}

fn constants(e: &Expr, out: &mut Vec<f64>) {
    match e {
        Expr::Num(x) => out.push(*x),
        Expr::Member(a, _) | Expr::Not(a) | Expr::Neg(a) => constants(a, out),
        Expr::Index(a, b) | Expr::Bin(a, _, b) => {
            constants(a, out);
            constants(b, out);
        }
        Expr::Call(_, args) => args.iter().for_each(|a| constants(a, out)),
        Expr::Str(_) | Expr::Bool(_) | Expr::Ident(_) => {}
    }
}

/// An end of an interval: the value and whether it belongs to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct End {
    pub at: f64,
    pub closed: bool,
}

/// The values for which a condition holds, as one interval, and what it
/// says when the provider returns nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// `None`: unbounded below.
    pub low: Option<End>,
    pub high: Option<End>,
    /// Holds for no value at all.
    pub never: bool,
    /// On no data: `Some(b)` the condition's value, `None` an evaluation
    /// error (Argo: the measurement is an Error).
    pub on_empty: Option<bool>,
}

impl Truth {
    pub fn always(&self) -> bool {
        !self.never && self.low.is_none() && self.high.is_none()
    }
}

/// The set of values for which `condition` holds.
///
/// # Errors
/// A condition outside the subset, on something but a number, or whose
/// set is not one interval.
pub fn truth(condition: &str) -> Result<Truth, String> {
    let e = parse(condition)?;
    let mut cs = Vec::new();
    constants(&e, &mut cs);
    let mut points = vec![-1e300, 1e300];
    for c in cs.iter().filter(|c| c.is_finite()) {
        let d = (c.abs() * 1e-9).max(1e-12);
        points.extend([c - d, *c, c + d]);
    }
    points.sort_by(f64::total_cmp);
    points.dedup();
    let mut holds = Vec::with_capacity(points.len());
    for &x in &points {
        match eval(&e, Data::Value(x))? {
            Val::Bool(b) => holds.push(b),
            other => return Err(format!("the condition is {other:?}, not true or false")),
        }
    }
    let on_empty = match eval(&e, Data::Empty) {
        Ok(Val::Bool(b)) => Some(b),
        _ => None,
    };
    let first = holds.iter().position(|&b| b);
    let last = holds.iter().rposition(|&b| b);
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(Truth {
            low: None,
            high: None,
            never: true,
            on_empty,
        });
    };
    if holds[first..=last].iter().any(|&b| !b) {
        return Err("it holds on more than one interval of values".to_owned());
    }
    // The samples are a constant and its two neighbours: an end at a sample
    // that is a constant is closed, at a neighbour open on that constant.
    let end = |i: usize, low: bool| {
        let x = points[i];
        match cs.iter().find(|c| **c == x) {
            Some(c) => End { at: *c, closed: true },
            None => {
                let c = if low { points[i - 1] } else { points[i + 1] };
                End { at: c, closed: false }
            }
        }
    };
    Ok(Truth {
        low: (first > 0).then(|| end(first, true)),
        high: (last + 1 < points.len()).then(|| end(last, false)),
        never: false,
        on_empty,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Truth {
        truth(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn real_template_conditions() {
        let ge = t("result[0] >= 0.95");
        assert_eq!(ge.low, Some(End { at: 0.95, closed: true }));
        assert_eq!(ge.high, None);
        assert_eq!(ge.on_empty, None, "result[0] of an empty vector is an error");
        let guarded = t("len(result) == 0 || result[0] >= 0.95");
        assert_eq!(guarded.low, Some(End { at: 0.95, closed: true }));
        assert_eq!(guarded.on_empty, Some(true));
        let nan = t("isNaN(result) || result < 0.05");
        assert_eq!(
            nan.high,
            Some(End {
                at: 0.05,
                closed: false
            })
        );
        assert_eq!(t("asFloat(result) > 0.9").low, Some(End { at: 0.9, closed: false }));
        assert_eq!(t("default(result[0], 0) >= 0.9").on_empty, Some(false));
        let band = t("result[0] >= 0.1 && result[0] <= 0.5");
        assert_eq!(
            (band.low.map(|e| e.at), band.high.map(|e| e.at)),
            (Some(0.1), Some(0.5))
        );
        assert!(t("result >= 0 || result < 0").always());
        assert!(t("result > 1 and result < 0").never);
    }

    #[test]
    fn what_cannot_be_mapped_says_why() {
        assert!(truth("result == \"true\"").unwrap_err().contains("string"));
        assert!(truth("result.Status == 999").unwrap_err().contains("field"));
        assert!(
            truth("result < 1 || result > 2")
                .unwrap_err()
                .contains("more than one interval")
        );
        assert!(truth("result >= ").is_err());
    }
}
