//! Property tests of the request parser: no panic on any bytes, at any limit; a partial answer
//! only while the buffer can still grow; and well-formed requests split anywhere parse to the
//! same route as whole.

use ppsd::publish::http::request::{parse, Page, Parsed, Status};
use proptest::collection::vec;
use proptest::prelude::*;

const METHODS: [&str; 4] = ["GET", "HEAD", "POST", "OPTIONS"];
const PATHS: [&str; 6] = [
    "/metrics",
    "/status",
    "/state",
    "/",
    "/state?x=1",
    "/metrics/",
];

fn expected(method: &str, path: &str) -> Parsed {
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Parsed::Error(Status::MethodNotAllowed),
    };
    let page = match path.split('?').next().unwrap() {
        "/metrics" => Page::Metrics,
        "/status" => Page::Status,
        "/state" => Page::State,
        _ => return Parsed::Error(Status::NotFound),
    };
    Parsed::Page { page, head_only }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_bytes_any_limits(bytes in vec(any::<u8>(), 0..6_000), full in any::<bool>(), max in 0usize..100) {
        let r = parse(&bytes, full, max);
        if full {
            prop_assert!(r != Parsed::Partial, "a full buffer must be decided");
        }
    }

    #[test]
    fn printable_noise(text in "[ -~\r\n]{0,400}", full in any::<bool>()) {
        let _ = parse(text.as_bytes(), full, 32);
    }

    #[test]
    fn well_formed_requests_split_anywhere(
        m in 0usize..4,
        p in 0usize..6,
        headers in vec(("[A-Za-z][A-Za-z0-9-]{0,12}", "[ -~]{0,40}"), 0..10),
        cut in 0usize..2_000,
    ) {
        let mut req = format!("{} {} HTTP/1.1\r\n", METHODS[m], PATHS[p]);
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {}\r\n", v.trim()));
        }
        req.push_str("\r\n");
        let bytes = req.as_bytes();
        let want = expected(METHODS[m], PATHS[p]);
        prop_assert_eq!(parse(bytes, false, 32), want);
        let cut = cut.min(bytes.len());
        if cut < bytes.len() {
            prop_assert_eq!(parse(&bytes[..cut], false, 32), Parsed::Partial);
        }
        // Bytes after the head (a body, pipelined junk) do not change the answer.
        let mut more = bytes.to_vec();
        more.extend_from_slice(b"\x00\xffjunk");
        prop_assert_eq!(parse(&more, false, 32), want);
    }
}
