//! Bearer tokens, as both ends of every Augur connection see them.
//!
//! Agents, the CLI and browsers present a token in the `authorization`
//! header (`Bearer TOKEN`; browsers may use Basic with the token as the
//! password); the aggregator and the web server hold a [`TokenSet`] and
//! compare in constant time. Tokens are secrets: they are read from files
//! or the environment, never from the command line, and never printed
//! ([`Token`]'s `Debug` hides them).
//!
//! A token file holds one token per line; blank lines and lines starting
//! with `#` are ignored, so several tokens (a rotation) can be accepted at
//! once. Clones of a [`TokenSet`] share their tokens, so a server can
//! replace them (on SIGHUP) in every check at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;

/// Shortest token accepted: guessing one must be hopeless.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token accepted: it travels in every request's headers.
pub const MAX_TOKEN_LEN: usize = 512;
/// Largest token file read.
const MAX_TOKEN_FILE: u64 = 64 << 10;

/// One secret token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token's text, to put in a header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `authorization` header value carrying this token.
    pub fn bearer_header(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl std::str::FromStr for Token {
    type Err = TokenError;

    /// Checks one token: printable ASCII without spaces (it must fit in an
    /// HTTP header unchanged), between [`MIN_TOKEN_LEN`] and
    /// [`MAX_TOKEN_LEN`] bytes.
    fn from_str(text: &str) -> Result<Self, TokenError> {
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Characters);
        }
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&text.len()) {
            return Err(TokenError::Length { len: text.len() });
        }
        Ok(Self(text.to_owned()))
    }
}

/// Why a token or token file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Outside the length bounds.
    #[error(
        "a token must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters long, not {len} (e.g. `openssl rand -hex 32`)"
    )]
    Length {
        /// Its length.
        len: usize,
    },
    /// Spaces, control characters or non-ASCII.
    #[error("a token may hold only printable ASCII characters without spaces")]
    Characters,
    /// The file could not be read.
    #[error("reading token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than any sensible list of tokens.
    #[error("token file {path} is larger than 64 KiB")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A token in a file or variable is malformed.
    #[error("{origin}, line {line}: {source}")]
    Invalid {
        /// The file or environment variable.
        origin: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: Box<TokenError>,
    },
    /// The file or variable holds no token.
    #[error("{origin} holds no token")]
    Empty {
        /// The file or environment variable.
        origin: String,
    },
}

/// Parses token-file text: one token per line, `#` comments and blank lines
/// skipped, surrounding whitespace trimmed. `origin` names the source in
/// errors.
pub fn parse_tokens(text: &str, origin: &str) -> Result<Vec<Token>, TokenError> {
    let mut tokens = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let token = line.parse().map_err(|source| TokenError::Invalid {
            origin: origin.to_owned(),
            line: index + 1,
            source: Box::new(source),
        })?;
        tokens.push(token);
    }
    if tokens.is_empty() {
        return Err(TokenError::Empty {
            origin: origin.to_owned(),
        });
    }
    Ok(tokens)
}

/// Reads the tokens of a token file.
pub fn read_token_file(path: &Path) -> Result<Vec<Token>, TokenError> {
    use std::io::Read;
    let read = |source| TokenError::Read {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(read)?
        .take(MAX_TOKEN_FILE + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_TOKEN_FILE {
        return Err(TokenError::TooLarge {
            path: path.to_owned(),
        });
    }
    parse_tokens(&text, &path.display().to_string())
}

/// The tokens from `file` (if given) and from the environment variable
/// `env` (if set and not empty), together.
pub fn load_tokens(file: Option<&Path>, env: &str) -> Result<TokenSet, TokenError> {
    let mut tokens = match file {
        Some(path) => read_token_file(path)?,
        None => Vec::new(),
    };
    if let Some(value) = std::env::var(env).ok().filter(|v| !v.trim().is_empty()) {
        tokens.extend(parse_tokens(&value, &format!("${env}"))?);
    }
    Ok(TokenSet::new(tokens))
}

/// The first token of `file`, else of `env`: what a client sends.
pub fn load_client_token(file: Option<&Path>, env: &str) -> Result<Option<Token>, TokenError> {
    Ok(load_tokens(file, env)?.first())
}

/// The tokens a server accepts for one right. Clones share the tokens:
/// [`TokenSet::replace`] changes what every clone accepts.
#[derive(Clone, Debug, Default)]
pub struct TokenSet {
    tokens: Arc<RwLock<Vec<Token>>>,
}

impl PartialEq for TokenSet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.tokens, &other.tokens) || *self.read() == *other.read()
    }
}

impl Eq for TokenSet {}

impl TokenSet {
    /// A set of these tokens.
    pub fn new(tokens: Vec<Token>) -> Self {
        Self {
            tokens: Arc::new(RwLock::new(tokens)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Token>> {
        // A panic while holding the lock cannot leave a half-written list:
        // writers only swap a whole vector in.
        self.tokens
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The first token, for a client in the same process.
    pub fn first(&self) -> Option<Token> {
        self.read().first().cloned()
    }

    /// A new set (not shared with this one) of these tokens and `token`.
    pub fn with_token(&self, token: Token) -> TokenSet {
        let mut tokens = self.read().clone();
        tokens.push(token);
        TokenSet::new(tokens)
    }

    /// Makes this set, and every clone of it, accept `other`'s tokens from
    /// now on (a token file read again).
    pub fn replace(&self, other: &TokenSet) {
        if Arc::ptr_eq(&self.tokens, &other.tokens) {
            return;
        }
        let tokens = other.read().clone();
        *self
            .tokens
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tokens;
    }

    /// True if `presented` equals one of the tokens. Every token is
    /// compared, each in time independent of where the bytes differ, so the
    /// answer's timing tells nothing about the secrets' contents.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let mut found = subtle::Choice::from(0);
        for token in self.read().iter() {
            found |= token.0.as_bytes().ct_eq(presented);
        }
        found.into()
    }
}

/// The token in an `authorization` header value: `Bearer TOKEN`, or
/// `Basic base64(user:TOKEN)` where the user name is ignored (what a
/// browser sends after its login prompt). The scheme is case-insensitive.
pub fn presented_token(header: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.as_bytes().to_vec())
    } else if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some(decoded[colon + 1..].to_vec())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef-a";
    const B: &str = "0123456789abcdef-b";

    #[test]
    fn parses_files_with_comments_and_blank_lines() {
        let text = format!("# rotation\n\n  {A}  \n{B}\n");
        let tokens = parse_tokens(&text, "f").unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].expose(), A);
        assert_eq!(tokens[1].expose(), B);
    }

    #[test]
    fn refuses_short_spaced_and_empty() {
        let err = parse_tokens("short\n", "f").unwrap_err();
        assert!(err.to_string().contains("f, line 1"), "{err}");
        assert!(matches!(
            "has a space in it!!".parse::<Token>(),
            Err(TokenError::Characters)
        ));
        assert!(matches!(
            "é".repeat(20).parse::<Token>(),
            Err(TokenError::Characters)
        ));
        assert!(matches!(
            parse_tokens("# only a comment\n\n", "f"),
            Err(TokenError::Empty { .. })
        ));
        assert!("x".repeat(MAX_TOKEN_LEN + 1).parse::<Token>().is_err());
    }

    #[test]
    fn accepts_only_configured_tokens() {
        let set = TokenSet::new(parse_tokens(&format!("{A}\n{B}"), "f").unwrap());
        assert!(set.accepts(A.as_bytes()));
        assert!(set.accepts(B.as_bytes()));
        assert!(!set.accepts(b"0123456789abcdef-c"));
        assert!(!set.accepts(b"0123456789abcdef-"));
        assert!(!set.accepts(b""));
        assert!(!TokenSet::default().accepts(b""));
    }

    #[test]
    fn replacing_reaches_every_clone() {
        let set = TokenSet::new(parse_tokens(A, "f").unwrap());
        let held_elsewhere = set.clone();
        set.replace(&TokenSet::new(parse_tokens(B, "f").unwrap()));
        assert!(!held_elsewhere.accepts(A.as_bytes()));
        assert!(held_elsewhere.accepts(B.as_bytes()));
        assert_eq!(held_elsewhere.first().unwrap().expose(), B);
        set.replace(&held_elsewhere);
        assert!(set.accepts(B.as_bytes()));
        let more = set.with_token(A.parse().unwrap());
        assert!(more.accepts(A.as_bytes()) && more.accepts(B.as_bytes()));
        assert!(!set.accepts(A.as_bytes()), "with_token shares nothing");
    }

    #[test]
    fn debug_hides_the_secret() {
        let token: Token = A.parse().unwrap();
        assert!(!format!("{token:?}").contains("0123"));
        let set = TokenSet::new(vec![token]);
        assert!(!format!("{set:?}").contains("0123"));
    }

    #[test]
    fn reads_bearer_and_basic() {
        assert_eq!(presented_token(b"Bearer abc").unwrap(), b"abc");
        assert_eq!(presented_token(b"bearer  abc ").unwrap(), b"abc");
        // "user:s3cret-token" in base64.
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode("user:s3cret:token");
        assert_eq!(
            presented_token(format!("Basic {basic}").as_bytes()).unwrap(),
            b"s3cret:token"
        );
        assert!(presented_token(b"Digest abc").is_none());
        assert!(presented_token(b"Bearer").is_none());
        assert!(presented_token(b"Basic !!!").is_none());
    }

    #[test]
    fn loads_file_and_environment_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("{A}\n")).unwrap();
        // A variable no other test sets.
        let var = "AUGUR_TEST_TOKEN_LOAD";
        // SAFETY: only this test reads or writes this variable.
        unsafe { std::env::set_var(var, B) };
        let set = load_tokens(Some(&path), var).unwrap();
        assert!(set.accepts(A.as_bytes()) && set.accepts(B.as_bytes()));
        let first = load_client_token(Some(&path), var).unwrap().unwrap();
        assert_eq!(first.expose(), A);
        unsafe { std::env::remove_var(var) };
        assert!(load_tokens(None, var).unwrap().is_empty());
        let missing = load_tokens(Some(&dir.path().join("nope")), var).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
