//! W3C Trace Context: the `traceparent` a producer may put in a job's AMQP headers. The
//! worker carries a valid one onto the job's outcome (result, dead letter, delayed copy) so a
//! tracing backend can join the hops, and logs its trace id; an invalid one is dropped, never
//! echoed (it is producer-set bytes).

/// The header name, as in HTTP (`traceparent`).
pub const TRACEPARENT: &str = "traceparent";

/// A valid version-00 `traceparent`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(String);

impl TraceParent {
    /// Parse `value` by the W3C rules: lower-case hex, version `00` (a later version is read
    /// by its first four fields, as the spec asks), trace id and parent id not all zeros.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let v = value.trim();
        let parts: Vec<&str> = v.split('-').collect();
        if parts.len() < 4 {
            return None;
        }
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let (version, trace, parent, flags) = (parts[0], parts[1], parts[2], parts[3]);
        if !hex(version, 2) || version == "ff" || (version == "00" && parts.len() != 4) {
            return None;
        }
        if !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) {
            return None;
        }
        if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceParent(format!("00-{trace}-{parent}-{flags}")))
    }

    /// The header value to carry on.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32-hex-digit trace id.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_headers_are_kept_and_invalid_ones_dropped() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceParent::parse(ok).unwrap();
        assert_eq!(t.as_str(), ok);
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // A later version: its first four fields, carried on as version 00.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert_eq!(TraceParent::parse(future).unwrap().as_str(), ok);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}
