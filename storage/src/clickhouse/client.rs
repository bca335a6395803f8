//! A small client for ClickHouse's HTTP interface: statements in the request
//! body, rows in and out as `JSONEachRow`.
//!
//! Values are put into SQL only through [`quote`] (strings) or as numbers,
//! so no client-sent text can change a statement's shape.
//!
//! The server is reached over `http://` or `https://` (the system's roots
//! or a CA file). The user and password travel in the `X-ClickHouse-User`
//! and `X-ClickHouse-Key` headers, never in the URL, so no URL that is
//! logged or put into an error carries them; `Debug` hides the password.

use std::fmt;
use std::time::Duration;

use augur_http_client::Trust;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StorageError;

/// Settings sent with every request. 64-bit integers come back as numbers,
/// long `IN (...)` lists fit, and inserts through a Distributed table reach
/// their shards before the request returns.
const SETTINGS: &[(&str, &str)] = &[
    ("output_format_json_quote_64bit_integers", "0"),
    ("max_query_size", "67108864"),
    ("insert_distributed_sync", "1"),
];

/// The header naming the ClickHouse user.
const USER_HEADER: &str = "X-ClickHouse-User";
/// The header carrying the user's password.
const KEY_HEADER: &str = "X-ClickHouse-Key";

/// One ClickHouse server, spoken to over HTTP(S).
#[derive(Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    /// Headers sent with every request: the user and password, if any.
    credentials: Vec<(&'static str, String)>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self
            .credentials
            .iter()
            .find(|(name, _)| *name == USER_HEADER)
            .map(|(_, user)| user.as_str());
        f.debug_struct("Client")
            .field("url", &self.base)
            .field("user", &user)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `url` (e.g. `https://127.0.0.1:8443`).
    pub(crate) fn new(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
        timeout: Duration,
        trust: &Trust,
    ) -> Self {
        let mut credentials = Vec::new();
        if let Some(user) = user {
            credentials.push((USER_HEADER, user.to_owned()));
        }
        if let Some(password) = password {
            credentials.push((KEY_HEADER, password.to_owned()));
        }
        Self {
            agent: augur_http_client::agent(trust, Some(timeout)),
            base: url.trim_end_matches('/').to_owned(),
            credentials,
        }
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    fn url_with(&self, query: Option<&str>) -> String {
        let mut url = format!("{}/?", self.base);
        let mut first = true;
        let mut push = |k: &str, v: &str| {
            if !first {
                url.push('&');
            }
            first = false;
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v));
        };
        for (k, v) in SETTINGS {
            push(k, v);
        }
        if let Some(query) = query {
            push("query", query);
        }
        url
    }

    fn send(
        &self,
        operation: &'static str,
        url: String,
        body: &[u8],
    ) -> Result<String, StorageError> {
        let err = |message: String, transient: bool| StorageError::ClickHouse {
            operation,
            message,
            transient,
        };
        let mut request = self.agent.post(&url);
        for (name, value) in &self.credentials {
            request = request.header(*name, value);
        }
        let mut response = request.send(body).map_err(|e| {
            let reason = augur_http_client::explain(&e);
            // An untrusted certificate does not fix itself.
            let transient = augur_http_client::tls_failure(&e).is_none();
            err(format!("{}: {reason}", self.base), transient)
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| err(format!("reading the answer: {e}"), true))?;
        if status != 200 {
            let message: String = text.trim().chars().take(2000).collect();
            // A busy or restarting server is worth a retry; a refused
            // statement (ClickHouse answers those with its own `Code: N`)
            // is not, except code 210, a network error between shards.
            let refused = message.starts_with("Code: ") && !message.starts_with("Code: 210,");
            return Err(err(
                format!("HTTP {status}: {message}"),
                status >= 500 && !refused,
            ));
        }
        Ok(text)
    }

    /// Runs a statement that returns nothing.
    pub(crate) fn execute(&self, operation: &'static str, sql: &str) -> Result<(), StorageError> {
        self.send(operation, self.url_with(None), sql.as_bytes())
            .map(drop)
    }

    /// Runs a `SELECT` and parses its rows; the statement must not carry a
    /// `FORMAT` clause.
    pub(crate) fn select<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        sql: &str,
    ) -> Result<Vec<T>, StorageError> {
        let text = self.send(
            operation,
            self.url_with(None),
            format!("{sql} FORMAT JSONEachRow").as_bytes(),
        )?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| StorageError::ClickHouse {
                    operation,
                    message: format!("unexpected row {line:?}: {e}"),
                    transient: false,
                })
            })
            .collect()
    }

    /// Runs a user's query read-only (the server refuses any write) in
    /// database `db`, bounded in rows and time; answers columns and rows.
    pub(crate) fn user_query(
        &self,
        db: &str,
        sql: &str,
        max_rows: usize,
        timeout: Duration,
    ) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>), StorageError> {
        let mut url = self.url_with(None);
        url.push_str(&format!(
            "&readonly=1&database={}&max_result_rows={}&result_overflow_mode=break&max_execution_time={}",
            percent_encode(db),
            max_rows.saturating_add(1),
            timeout.as_secs().max(1)
        ));
        let body = format!("{} FORMAT JSONCompact", sql.trim().trim_end_matches(';'));
        let text = self
            .send("run a query", url, body.as_bytes())
            .map_err(|e| match e {
                StorageError::ClickHouse {
                    message,
                    transient: false,
                    ..
                } => StorageError::Query { message },
                other => other,
            })?;
        #[derive(serde::Deserialize)]
        struct Column {
            name: String,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            meta: Vec<Column>,
            data: Vec<Vec<serde_json::Value>>,
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|e| StorageError::ClickHouse {
            operation: "run a query",
            message: format!("unexpected answer: {e}"),
            transient: false,
        })?;
        Ok((
            answer.meta.into_iter().map(|c| c.name).collect(),
            answer.data,
        ))
    }

    /// Inserts `lines`, rows already encoded as `JSONEachRow` lines, into
    /// `table`; nothing is sent for no rows.
    pub(crate) fn insert_lines(
        &self,
        operation: &'static str,
        table: &str,
        lines: &[u8],
    ) -> Result<(), StorageError> {
        if lines.is_empty() {
            return Ok(());
        }
        let query = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.send(operation, self.url_with(Some(&query)), lines)
            .map(drop)
    }

    /// Inserts `rows` into `table`; nothing is sent for no rows.
    pub(crate) fn insert<T: Serialize>(
        &self,
        operation: &'static str,
        table: &str,
        rows: &[T],
    ) -> Result<(), StorageError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = Vec::with_capacity(rows.len() * 64);
        for row in rows {
            serde_json::to_writer(&mut body, row).expect("rows always serialize");
            body.push(b'\n');
        }
        let query = format!("INSERT INTO {table} FORMAT JSONEachRow");
        self.send(operation, self.url_with(Some(&query)), &body)
            .map(drop)
    }
}

/// A ClickHouse string literal holding `text`.
pub(crate) fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `a, b, c` of numbers, for `IN (...)`.
pub(crate) fn number_list(values: impl IntoIterator<Item = u64>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&v.to_string());
    }
    out
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_everything_that_ends_a_literal() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), "'it\\'s'");
        assert_eq!(
            quote("a\\'); DROP TABLE x; --"),
            "'a\\\\\\'); DROP TABLE x; --'"
        );
        assert_eq!(quote("line\nbreak\0"), "'line\\nbreak\\0'");
    }

    #[test]
    fn credentials_travel_in_headers_not_in_the_url() {
        let client = Client::new(
            "https://clickhouse.example:8443/",
            Some("augur"),
            Some("s3cret&pw"),
            Duration::from_secs(1),
            &Trust::System,
        );
        for url in [
            client.url_with(None),
            client.url_with(Some("INSERT INTO t FORMAT JSONEachRow")),
        ] {
            assert!(
                url.starts_with("https://clickhouse.example:8443/?"),
                "{url}"
            );
            assert!(!url.contains("s3cret"), "the password is in {url}");
            assert!(!url.contains("augur"), "the user is in {url}");
            assert!(!url.contains("password="), "{url}");
        }
        assert_eq!(
            client.credentials,
            vec![
                ("X-ClickHouse-User", "augur".to_owned()),
                ("X-ClickHouse-Key", "s3cret&pw".to_owned())
            ]
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("augur"), "{debug}");
    }

    #[test]
    fn urls_are_percent_encoded() {
        assert_eq!(
            percent_encode("INSERT INTO t FORMAT X"),
            "INSERT%20INTO%20t%20FORMAT%20X"
        );
        assert_eq!(percent_encode("a&b=c"), "a%26b%3Dc");
    }
}
