//! Answer templates: text with `{placeholders}` filled from entities and the customer's profile.
//!
//! Rendering produces the screen text and the SSML body together, so that a value can be spoken differently
//! from how it is shown (an order number read digit by digit) and everything is escaped once, here.

use crate::channel::ssml;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// Words, with their SSML (escaped once, when the template is parsed).
    Text {
        text: String,
        ssml: String,
    },
    Slot(String),
}

impl Part {
    fn text(text: String) -> Part {
        Part::Text {
            ssml: ssml::escape(&text),
            text,
        }
    }
}

/// How a filled-in value is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayAs {
    /// Like the surrounding words.
    Plain,
    /// Digit by digit ("four five six seven").
    Digits,
    /// A `YYYY-MM-DD` date, read as a date ("November twenty-sixth"), not as numbers and dashes.
    Date,
}

/// A value for a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub text: String,
    pub say_as: SayAs,
}

impl Value {
    pub fn plain(text: impl Into<String>) -> Self {
        Value {
            text: text.into(),
            say_as: SayAs::Plain,
        }
    }
}

/// A rendered answer: what is shown and the body of what is spoken (without `<speak>`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rendered {
    pub text: String,
    pub ssml: String,
}

impl Rendered {
    /// A fixed sentence, escaped for SSML.
    pub fn plain(text: &str) -> Self {
        Rendered {
            text: text.to_string(),
            ssml: ssml::escape(text),
        }
    }

    /// Appends another rendered piece, separated by a space.
    pub fn push(&mut self, other: &Rendered) {
        if !self.text.is_empty() && !other.text.is_empty() {
            self.text.push(' ');
            self.ssml.push(' ');
        }
        self.text.push_str(&other.text);
        self.ssml.push_str(&other.ssml);
    }
}

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl Template {
    /// Parses `Order {order_id} is {order.status}.`; `{{` and `}}` are literal braces.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                                name.push(c)
                            }
                            Some(c) => {
                                return Err(TemplateError(format!(
                                    "unexpected {c:?} inside a placeholder in {source:?}"
                                )));
                            }
                            None => {
                                return Err(TemplateError(format!("unclosed '{{' in {source:?}")));
                            }
                        }
                    }
                    if name.is_empty() {
                        return Err(TemplateError(format!("empty placeholder in {source:?}")));
                    }
                    if !text.is_empty() {
                        parts.push(Part::text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Slot(name));
                }
                '}' => return Err(TemplateError(format!("unmatched '}}' in {source:?}"))),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::text(text));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The placeholders this template uses.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Slot(s) => Some(s.as_str()),
            Part::Text { .. } => None,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Fills every placeholder, or returns `None` when one has no value.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> Option<Rendered> {
        // Room for the words and a value or two: the strings are not grown piece by piece.
        let room = self.source.len() + 32;
        let mut out = Rendered {
            text: String::with_capacity(room),
            ssml: String::with_capacity(room + 32),
        };
        for part in &self.parts {
            match part {
                Part::Text { text, ssml } => {
                    out.text.push_str(text);
                    out.ssml.push_str(ssml);
                }
                Part::Slot(name) => {
                    let value = lookup(name)?;
                    out.text.push_str(&value.text);
                    match value.say_as {
                        SayAs::Plain => ssml::escape_into(&mut out.ssml, &value.text),
                        SayAs::Digits => out.ssml.push_str(&ssml::say_digits(&value.text)),
                        SayAs::Date => out.ssml.push_str(&ssml::say_date(&value.text)),
                    }
                }
            }
        }
        Some(out)
    }
}

/// Renders the first template of `templates` whose every placeholder has a value.
pub fn render_first(
    templates: &[Template],
    lookup: &dyn Fn(&str) -> Option<Value>,
) -> Option<Rendered> {
    templates.iter().find_map(|t| t.render(lookup))
}

/// French contractions and elisions, applied to a filled answer: a template says "au sujet de {topic}"
/// and the topic is "un problème", so the sentence must read "au sujet d'un problème" (de + le → du,
/// de + les → des, à + le → au, à + les → aux, de/que/je/le/la/ne/se + a vowel or mute h → d', qu'…).
pub fn contract_fr(text: &str) -> String {
    use regex::Regex;
    use std::sync::LazyLock;
    static DE_LE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b([dD])e le ").expect("contraction pattern"));
    static DE_LES: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b([dD])e les ").expect("contraction pattern"));
    static A_LE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(^|\s)([àÀ]) le ").expect("contraction pattern"));
    static A_LES: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(^|\s)([àÀ]) les ").expect("contraction pattern"));
    static ELISION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\b([dD]e|[qQ]ue|[jJ]e|[nN]e|[sS]e|[lL]e|[lL]a|[mM]e|[tT]e) ([aeiouyhàâéèêëîïôùûAEIOUYHÀÂÉÈÊÎÔ])")
            .expect("elision pattern")
    });
    let out = DE_LE.replace_all(text, "${1}u ");
    let out = DE_LES.replace_all(&out, "${1}es ");
    let out = A_LE.replace_all(&out, |c: &regex::Captures| {
        format!("{}{}u ", &c[1], if &c[2] == "À" { "A" } else { "a" })
    });
    let out = A_LES.replace_all(&out, |c: &regex::Captures| {
        format!("{}{}ux ", &c[1], if &c[2] == "À" { "A" } else { "a" })
    });
    ELISION
        .replace_all(&out, |c: &regex::Captures| {
            let word = &c[1];
            // "le", "la", "de"… lose their vowel: l', d', qu', j'.
            let kept = &word[..word.len() - 1];
            format!("{kept}'{}", &c[2])
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_answers_contract_and_elide() {
        assert_eq!(
            contract_fr("au sujet de un problème"),
            "au sujet d'un problème"
        );
        assert_eq!(contract_fr("le statut de le colis"), "le statut du colis");
        assert_eq!(
            contract_fr("je pense que il arrive"),
            "je pense qu'il arrive"
        );
        assert_eq!(contract_fr("à le magasin"), "au magasin");
        assert_eq!(
            contract_fr("la commande est livrée"),
            "la commande est livrée"
        );
        assert_eq!(contract_fr("de votre commande"), "de votre commande");
    }

    fn lookup(name: &str) -> Option<Value> {
        match name {
            "order_id" => Some(Value {
                text: "4567".into(),
                say_as: SayAs::Digits,
            }),
            "name" => Some(Value::plain("Zoé <b>&")),
            _ => None,
        }
    }

    #[test]
    fn placeholders_are_filled_in_text_and_ssml() {
        let t = Template::parse("Order {order_id} for {name}.").unwrap();
        let r = t.render(&lookup).unwrap();
        assert_eq!(r.text, "Order 4567 for Zoé <b>&.");
        assert_eq!(
            r.ssml,
            "Order <say-as interpret-as=\"digits\">4567</say-as> for Zoé &lt;b&gt;&amp;."
        );
    }

    #[test]
    fn the_first_template_that_can_be_filled_is_used() {
        let ts = [
            Template::parse("It arrives {order.eta}.").unwrap(),
            Template::parse("Order {order_id}.").unwrap(),
        ];
        assert_eq!(render_first(&ts, &lookup).unwrap().text, "Order 4567.");
    }

    #[test]
    fn an_unclosed_placeholder_is_an_error() {
        assert!(Template::parse("Order {order_id").is_err());
        assert!(Template::parse("Order order_id}").is_err());
        assert!(Template::parse("{}").is_err());
        assert_eq!(
            Template::parse("{{literal}}")
                .unwrap()
                .placeholders()
                .count(),
            0
        );
    }
}
