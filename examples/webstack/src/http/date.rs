//! The `Date` header, formatted at most once a second.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// The length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
const LEN: usize = 29;

/// The last second `httpdate` can format (9999-12-31T23:59:59Z); it panics past it.
const LAST_SECOND: u64 = 253_402_300_799;

/// An IMF-fixdate, as `Date` carries it (RFC 9110 §5.6.7). Copied by value (29 bytes), so
/// handing one to each response costs no allocation and no shared reference count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HttpDate {
    text: [u8; LEN],
}

impl HttpDate {
    /// The date of `secs` seconds after the Unix epoch (clamped to the year 9999).
    pub fn from_unix_secs(secs: u64) -> HttpDate {
        let time = UNIX_EPOCH + Duration::from_secs(secs.min(LAST_SECOND));
        let formatted = httpdate::fmt_http_date(time);
        let mut text = *b"Thu, 01 Jan 1970 00:00:00 GMT";
        // Always 29 ASCII bytes for years 1970 to 9999; the epoch stays if that ever changed.
        if let Ok(bytes) = <[u8; LEN]>::try_from(formatted.as_bytes())
            && bytes.is_ascii()
        {
            text = bytes;
        }
        HttpDate { text }
    }

    /// The formatted date.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `from_unix_secs`), so this never falls back.
        std::str::from_utf8(&self.text).unwrap_or("Thu, 01 Jan 1970 00:00:00 GMT")
    }
}

impl Deref for HttpDate {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The current date for `Date` headers, shared by every connection thread: formatting happens
/// at most once per second of wall-clock time, and a call otherwise costs a clock read, an
/// uncontended-in-practice lock held for a comparison and a 29-byte copy.
#[derive(Debug)]
pub struct DateCache {
    last: Mutex<Option<(u64, HttpDate)>>,
}

impl Default for DateCache {
    fn default() -> Self {
        DateCache::new()
    }
}

impl DateCache {
    /// An empty cache (the first call formats).
    pub const fn new() -> DateCache {
        DateCache { last: Mutex::new(None) }
    }

    /// The date now.
    pub fn now(&self) -> HttpDate {
        self.at(SystemTime::now())
    }

    /// The date at `time` (a clock before 1970 gives the epoch): the cached string if `time`
    /// falls in the same second as the last call, else a freshly formatted one.
    pub fn at(&self, time: SystemTime) -> HttpDate {
        let secs = time.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let mut last = self.last.lock();
        match *last {
            Some((cached, date)) if cached == secs => date,
            _ => {
                let date = HttpDate::from_unix_secs(secs);
                *last = Some((secs, date));
                date
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(HttpDate::from_unix_secs(784_111_777).as_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&*HttpDate::from_unix_secs(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(HttpDate::from_unix_secs(u64::MAX).as_str(), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn cache_refreshes_when_the_second_changes() {
        let cache = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(cache.at(t).as_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(cache.at(t + Duration::from_millis(999)).as_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(cache.at(t + Duration::from_secs(1)).as_str(), "Sun, 06 Nov 1994 08:49:38 GMT");
        // A clock stepped back is followed too.
        assert_eq!(cache.at(t).as_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(cache.at(UNIX_EPOCH - Duration::from_secs(5)).as_str(), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(cache.now().len(), 29);
    }
}
