//! Request parsing: the bytes a client sent so far in, a decision out: wait for more, answer
//! this page, or refuse with an error status.
//!
//! Only `GET` and `HEAD` of `/metrics`, `/status` and `/state` are served (a query string is
//! ignored); any other path is 404, any other method 405. A request head that does not fit in
//! the buffer is 414 when its first line alone does not fit, 431 otherwise; more headers than
//! allowed is 431; anything httparse cannot read (binary garbage, HTTP/2 preface, bad tokens)
//! is 400. Request bodies are never read. Never panics and never allocates, on any bytes.

/// Most headers any request may carry (the configured limit is capped at this).
pub const MAX_HEADERS: usize = 64;

/// The pages served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Page {
    /// `/metrics`: Prometheus text exposition.
    Metrics,
    /// `/status`: JSON.
    Status,
    /// `/state`: TimeMonitor CSV line.
    State,
}

impl Page {
    /// All pages, in cache-slot order.
    pub const ALL: [Page; 3] = [Page::Metrics, Page::Status, Page::State];

    /// The page's path.
    pub fn path(self) -> &'static str {
        match self {
            Page::Metrics => "/metrics",
            Page::Status => "/status",
            Page::State => "/state",
        }
    }

    /// Index in [`Page::ALL`].
    pub fn index(self) -> usize {
        match self {
            Page::Metrics => 0,
            Page::Status => 1,
            Page::State => 2,
        }
    }
}

/// Status codes this server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 400: unparseable request.
    BadRequest,
    /// 404: no such page.
    NotFound,
    /// 405: not GET or HEAD.
    MethodNotAllowed,
    /// 408: the request did not arrive before the connection's deadline.
    RequestTimeout,
    /// 414: the request line alone exceeds the size limit.
    UriTooLong,
    /// 431: the request head exceeds the size or header-count limit.
    HeadersTooLarge,
    /// 503: too many connections.
    Unavailable,
}

impl Status {
    /// All statuses, in stats order.
    pub const ALL: [Status; 8] = [
        Status::Ok,
        Status::BadRequest,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::UriTooLong,
        Status::HeadersTooLarge,
        Status::Unavailable,
    ];

    /// Numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::UriTooLong => 414,
            Status::HeadersTooLarge => 431,
            Status::Unavailable => 503,
        }
    }

    /// Reason phrase.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::UriTooLong => "URI Too Long",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::Unavailable => "Service Unavailable",
        }
    }

    /// Index in [`Status::ALL`].
    pub fn index(self) -> usize {
        Status::ALL.iter().position(|&s| s == self).unwrap_or(0)
    }
}

/// What to do with the bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// Serve this page; `head_only` for `HEAD`.
    Page {
        /// The page.
        page: Page,
        /// Send the headers only.
        head_only: bool,
    },
    /// Answer with this error status and close.
    Error(Status),
}

/// Parses the request head in `buf`. `full` says the buffer is at its size limit (no more
/// bytes will be read); `max_headers` is capped at [`MAX_HEADERS`].
pub fn parse(buf: &[u8], full: bool, max_headers: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let n = max_headers.clamp(1, MAX_HEADERS);
    let mut req = httparse::Request::new(&mut headers[..n]);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => route(req.method, req.path),
        Ok(httparse::Status::Partial) if !full => Parsed::Partial,
        Ok(httparse::Status::Partial) => {
            if buf.contains(&b'\n') {
                Parsed::Error(Status::HeadersTooLarge)
            } else {
                Parsed::Error(Status::UriTooLong)
            }
        }
        Err(httparse::Error::TooManyHeaders) => Parsed::Error(Status::HeadersTooLarge),
        Err(_) => Parsed::Error(Status::BadRequest),
    }
}

fn route(method: Option<&str>, path: Option<&str>) -> Parsed {
    let head_only = match method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Error(Status::MethodNotAllowed),
    };
    let path = path.unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    match Page::ALL.into_iter().find(|p| p.path() == path) {
        Some(page) => Parsed::Page { page, head_only },
        None => Parsed::Error(Status::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        let p = |s: &str| parse(s.as_bytes(), false, 32);
        assert_eq!(
            p("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Parsed::Page {
                page: Page::Metrics,
                head_only: false
            }
        );
        assert_eq!(
            p("HEAD /state?x=1 HTTP/1.0\r\n\r\n"),
            Parsed::Page {
                page: Page::State,
                head_only: true
            }
        );
        assert_eq!(
            p("GET /status HTTP/1.1\n\n"),
            Parsed::Page {
                page: Page::Status,
                head_only: false
            }
        );
        assert_eq!(p("GET / HTTP/1.1\r\n\r\n"), Parsed::Error(Status::NotFound));
        assert_eq!(
            p("GET /metricsx HTTP/1.1\r\n\r\n"),
            Parsed::Error(Status::NotFound)
        );
        assert_eq!(
            p("POST /metrics HTTP/1.1\r\n\r\n"),
            Parsed::Error(Status::MethodNotAllowed)
        );
        assert_eq!(p("GET /metrics HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        assert_eq!(p("GET /met"), Parsed::Partial);
        assert_eq!(p(""), Parsed::Partial);
    }

    #[test]
    fn malformed_and_oversize() {
        let garbage = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        assert_eq!(
            parse(&garbage, false, 32),
            Parsed::Error(Status::BadRequest)
        );
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, 32),
            Parsed::Error(Status::BadRequest)
        );
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n", false, 32),
            Parsed::Error(Status::BadRequest)
        );
        let long_line = format!("GET /{} HTTP/1.1", "a".repeat(5000));
        assert_eq!(
            parse(long_line.as_bytes(), true, 32),
            Parsed::Error(Status::UriTooLong)
        );
        let long_head = format!("GET /metrics HTTP/1.1\r\nX: {}", "b".repeat(5000));
        assert_eq!(
            parse(long_head.as_bytes(), true, 32),
            Parsed::Error(Status::HeadersTooLarge)
        );
        let many: String = (0..40).map(|i| format!("H{i}: v\r\n")).collect();
        let req = format!("GET /metrics HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse(req.as_bytes(), false, 32),
            Parsed::Error(Status::HeadersTooLarge)
        );
        assert!(matches!(
            parse(req.as_bytes(), false, 64),
            Parsed::Page { .. }
        ));
    }
}
