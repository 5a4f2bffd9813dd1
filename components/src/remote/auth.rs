//! Who may talk to an agent: hosts that share a [`Key`].
//!
//! * **Control connections** run a mutual challenge/response before anything else
//!   (see [`protocol`](super::protocol)): the client sends a fresh nonce, the agent
//!   answers with its own nonce and `HMAC(key, "agent" ‖ client nonce ‖ agent nonce)`,
//!   the client checks it (so a host without the key cannot pose as an agent) and
//!   answers `HMAC(key, "client" ‖ agent nonce ‖ client nonce)`. Only then does the
//!   agent issue a random session id, which every later control request carries.
//!   Agent nonces are single-use, so a recorded exchange cannot be replayed.
//! * **Data connections** to a served component carry a 16-byte token in front of
//!   every request: `HMAC(key, "data" ‖ salt ‖ instance)`, where the agent picks the
//!   salt per instance and sends it (not the token) in its answer. Both ends derive
//!   the token from the key; it never crosses the control connection.
//!
//! What this does not give: confidentiality, or protection from an observer on the
//! path who copies a data token (the transport is plain TCP). It keeps hosts that do
//! not hold the key from instantiating, stopping or calling anything.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::{Channel, ErrorCode, MethodId, RemoteError, Service, ServiceError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::KeyError;

/// Environment variable holding the shared key, hex-encoded.
pub const KEY_ENV: &str = "HATCH_KEY";
/// Environment variable naming a file that holds the shared key, hex-encoded.
pub const KEY_FILE_ENV: &str = "HATCH_KEY_FILE";
/// Bytes of the data-path token in front of every request to a served component.
/// A multiple of 16, so the payload behind it stays 16-aligned for rkyv.
pub const TOKEN_LEN: usize = 16;
/// Error code of a call refused for a missing or wrong data token.
pub const UNAUTHENTICATED: ErrorCode = ErrorCode::Other(401);

const MIN_KEY_LEN: usize = 16;

/// The secret shared by every host of one system.
#[derive(Clone)]
pub struct Key(Arc<[u8]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

impl Key {
    /// A key from raw bytes (at least 16).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort { len: bytes.len(), min: MIN_KEY_LEN });
        }
        Ok(Key(bytes.into()))
    }

    /// A key from its hex form (surrounding whitespace ignored).
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) {
            return Err(KeyError::NotHex);
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).ok_or(KeyError::NotHex)?, 16).map_err(|_| KeyError::NotHex))
            .collect::<Result<Vec<u8>, KeyError>>()?;
        Self::from_bytes(&bytes)
    }

    /// The key's hex form, as [`KEY_ENV`] expects it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fresh random 32-byte key.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_bytes(&random::<32>()?)
    }

    /// Reads the hex key in the file at `path`, which only its owner may read: a file with
    /// any group or other permission bit (`mode & 0o077 != 0`) is refused with
    /// [`KeyError::Permissions`].
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let file_error = |e: std::io::Error| KeyError::File(path.display().to_string(), e.to_string());
        // The mode is checked on the opened file, so the file read is the file checked.
        let mut file = std::fs::File::open(path).map_err(file_error)?;
        let mode = file.metadata().map_err(file_error)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path: path.display().to_string(), mode });
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(file_error)?;
        Self::from_hex(&text)
    }

    /// Writes the key's hex form to a new file `name` in a new private directory (0700) under
    /// the system's temporary directory, the file created 0600; returns the directory, which
    /// the caller removes. How a parent hands the key to a child without putting it in the
    /// child's environment (readable in `/proc/<pid>/environ`).
    pub(crate) fn write_private(&self, name: &str) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let suffix: String = random::<8>().map_err(std::io::Error::other)?.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("hatch-key-{}-{suffix}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        file.write_all(self.to_hex().as_bytes())?;
        Ok((dir, path))
    }

    /// The key in [`KEY_ENV`], or else in the file named by [`KEY_FILE_ENV`].
    pub fn from_env() -> Result<Self, KeyError> {
        if let Ok(hex) = std::env::var(KEY_ENV) {
            return Self::from_hex(&hex);
        }
        match std::env::var(KEY_FILE_ENV) {
            Ok(path) => Self::from_file(Path::new(&path)),
            Err(_) => Err(KeyError::Missing),
        }
    }

    /// `HMAC-SHA256(key, label ‖ parts…)`.
    pub(crate) fn mac(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        self.hmac(label, parts).finalize().into_bytes().into()
    }

    /// Checks `tag` against `HMAC-SHA256(key, label ‖ parts…)` in constant time.
    pub(crate) fn verify(&self, label: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
        self.hmac(label, parts).verify_slice(tag).is_ok()
    }

    fn hmac(&self, label: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(&(label.len() as u32).to_le_bytes());
        mac.update(label);
        for part in parts {
            mac.update(&(part.len() as u32).to_le_bytes());
            mac.update(part);
        }
        mac
    }

    /// The data-path token of instance `instance` served with `salt`.
    pub(crate) fn data_token(&self, salt: &[u8; 16], instance: u64) -> [u8; TOKEN_LEN] {
        let full = self.mac(b"hatch/data", &[salt, &instance.to_le_bytes()]);
        full[..TOKEN_LEN].try_into().expect("32 >= TOKEN_LEN")
    }
}

/// `N` random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(out)
}

/// Constant-time equality of two byte strings of equal length.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

thread_local! {
    /// A request buffer per thread, taken (not borrowed) so a nested call allocates its own.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A [`Channel`] that puts the data token in front of every request.
/// Also bounds each call by the host's call timeout, if it has one.
pub(crate) struct TokenChannel {
    inner: Arc<dyn Channel>,
    token: [u8; TOKEN_LEN],
    timeout: Option<Duration>,
}

impl TokenChannel {
    pub(crate) fn new(inner: Arc<dyn Channel>, token: [u8; TOKEN_LEN]) -> Self {
        Self { inner, token, timeout: None }
    }

    /// Bounds every call by `timeout` (on top of the caller's own deadline).
    pub(crate) fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    fn with_request<R>(&self, request: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = SPARE.with(Cell::take);
        buf.clear();
        buf.extend_from_slice(&self.token);
        buf.extend_from_slice(request);
        let result = f(&buf);
        SPARE.with(|spare| spare.set(buf));
        result
    }
}

impl Channel for TokenChannel {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        let deadline = match (deadline, self.timeout) {
            (deadline, None) => deadline,
            (None, Some(timeout)) => Some(Instant::now() + timeout),
            (Some(deadline), Some(timeout)) => Some(deadline.min(Instant::now() + timeout)),
        };
        self.with_request(request, |req| self.inner.call(method, req, deadline))
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.with_request(request, |req| self.inner.send_one_way(method, req))
    }

    fn flush(&self) -> Result<(), RemoteError> {
        self.inner.flush()
    }
}

/// A [`Service`] that refuses calls without the right data token and strips it
/// from those it passes on. Counts calls for load reports.
pub(crate) struct TokenService {
    inner: Arc<dyn Service>,
    token: [u8; TOKEN_LEN],
    pub(crate) calls: AtomicU64,
    refused: AtomicU64,
    label: String,
}

impl TokenService {
    pub(crate) fn new(inner: Arc<dyn Service>, token: [u8; TOKEN_LEN], label: String) -> Self {
        Self { inner, token, calls: AtomicU64::new(0), refused: AtomicU64::new(0), label }
    }
}

/// Refused calls logged per served instance; later ones are only counted.
const LOGGED_REFUSALS: u64 = 8;

impl Service for TokenService {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        if payload.len() < TOKEN_LEN || !ct_eq(&payload[..TOKEN_LEN], &self.token) {
            let refused = self.refused.fetch_add(1, Ordering::Relaxed);
            if refused < LOGGED_REFUSALS {
                super::agent::log(&format!(
                    "refused a call to {} (method {method:#010x}): missing or wrong data token",
                    self.label
                ));
            }
            return Err(ServiceError::new(UNAUTHENTICATED, "unauthenticated call: missing or wrong data token"));
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        // TOKEN_LEN is a multiple of 16: the rest stays 16-aligned.
        self.inner.call(method, &payload.slice(TOKEN_LEN..), reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatch_transport::{Config, Echo, LoopbackChannel};

    #[test]
    fn keys_parse_and_refuse_short_or_bad_input() {
        let key = Key::generate().unwrap();
        assert_eq!(Key::from_hex(&key.to_hex()).unwrap().0, key.0);
        assert_eq!(Key::from_hex("abcd").unwrap_err(), KeyError::TooShort { len: 2, min: 16 });
        assert_eq!(Key::from_hex("zz").unwrap_err(), KeyError::NotHex);
        assert_eq!(Key::from_hex("abc").unwrap_err(), KeyError::NotHex);
    }

    #[test]
    fn key_files_readable_by_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let key = Key::generate().unwrap();
        let (dir, path) = key.write_private("key").unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&path)), (0o700, 0o600));
        assert_eq!(Key::from_file(&path).unwrap().0, key.0);
        for bad in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
            match Key::from_file(&path) {
                Err(KeyError::Permissions { mode, .. }) => assert_eq!(mode, bad),
                other => panic!("mode {bad:o} accepted: {other:?}"),
            }
        }
        let message = Key::from_file(&path).unwrap_err().to_string();
        assert!(message.contains("0660") && message.contains("chmod 600"), "{message}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Key::from_file(&path).is_ok(), "owner read-only is fine");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn macs_depend_on_key_label_and_framing() {
        let (a, b) = (Key::from_bytes(&[1; 16]).unwrap(), Key::from_bytes(&[2; 16]).unwrap());
        let tag = a.mac(b"x", &[b"ab", b"c"]);
        assert!(a.verify(b"x", &[b"ab", b"c"], &tag));
        assert!(!b.verify(b"x", &[b"ab", b"c"], &tag));
        assert!(!a.verify(b"y", &[b"ab", b"c"], &tag));
        assert!(!a.verify(b"x", &[b"a", b"bc"], &tag), "parts are length-framed");
        assert_ne!(a.data_token(&[0; 16], 1), a.data_token(&[0; 16], 2));
    }

    #[test]
    fn token_service_admits_only_the_right_token() {
        let key = Key::from_bytes(&[7; 16]).unwrap();
        let token = key.data_token(&[3; 16], 9);
        let service = Arc::new(TokenService::new(Arc::new(Echo), token, "test".into()));
        let channel = |token| {
            let raw: Arc<dyn Channel> =
                Arc::new(LoopbackChannel::new(service.clone(), Config::default(), Config::default()));
            TokenChannel::new(raw, token)
        };
        assert_eq!(&channel(token).call(1, b"hello", None).unwrap()[..], b"hello");
        let mut wrong = token;
        wrong[0] ^= 1;
        match channel(wrong).call(1, b"hello", None) {
            Err(RemoteError::Service { code, .. }) => assert_eq!(code, UNAUTHENTICATED),
            other => panic!("wrong token admitted: {other:?}"),
        }
        let raw = LoopbackChannel::new(service.clone(), Config::default(), Config::default());
        assert!(matches!(raw.call(1, b"short", None), Err(RemoteError::Service { .. })));
        assert_eq!(service.calls.load(Ordering::Relaxed), 1);
    }
}
