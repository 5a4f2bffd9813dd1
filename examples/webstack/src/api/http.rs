//! The request path: the front end hands each parsed request, with its connection as an
//! interface argument (the paper's `TCPSocket`), to an [`HttpHandler`]. Relocated, the handler
//! gets a reverse proxy of the [`Connection`], so everything it sends travels back to the front
//! end that holds the client's socket. Only the traits and their argument types live here:
//! hatch-proxygen reads this file.

/// The request methods the site serves (others are refused by the front end with 405/501).
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: as `GET`, and the front end drops the body.
    Head,
    /// `POST`: article edits.
    Post,
}

/// A request as the front end parsed and checked it: the path is percent-decoded and
/// normalised (no `.`/`..` segments, no NUL, no backslash), the body complete.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The decoded, normalised path, starting with `/`.
    pub path: String,
    /// The raw query string (after `?`), empty when there is none.
    pub query: String,
    /// The `Accept-Encoding` header, empty when absent.
    pub accept_encoding: String,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The `Content-Type` of the body, if any.
    pub content_type: Option<String>,
    /// The body (de-chunked), empty for `GET`/`HEAD`.
    pub body: Vec<u8>,
}

/// What a handler answers. The body the client gets is everything the handler (and what it
/// calls) sent through the [`Connection`] during the call, followed by [`Response::body`]; the
/// front end adds `Content-Length`, `Date`, `Server` and the connection headers, and turns a
/// matching `If-None-Match` into `304 Not Modified`.
#[derive(Clone, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Encoding`, when the body is compressed.
    pub content_encoding: Option<String>,
    /// A strong `ETag` (with its quotes), when the body is a stable representation.
    pub etag: Option<String>,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Whether the representation depends on `Accept-Encoding` (sends `Vary: Accept-Encoding`).
    pub vary_encoding: bool,
    /// The rest of the body.
    pub body: Vec<u8>,
}

/// The client's connection, as the handler and the scripts see it: response bytes go out
/// through it, in as many pieces as the caller likes.
pub trait Connection: Send + Sync {
    /// Appends `data` to the response body. Optimistic: behind a reverse proxy the pieces are
    /// batched and travel back together (Hatch's answer to the paper's Fig. 7).
    fn send(&self, data: &[u8]);

    /// Appends `data` to the response body and returns only once the front end has it: one
    /// round trip per piece behind a reverse proxy (the paper's pessimistic `send`).
    #[hatch::sync]
    fn send_sync(&self, data: &[u8]);

    /// The client's address.
    fn peer(&self) -> String;
}

/// Answers one request (the paper's `HTTPHandler`, its main distribution point).
pub trait HttpHandler: hatch::components::Component {
    /// Serves `request`, sending body bytes through `connection` or returning them in the
    /// response (or both, in that order).
    fn handle(&self, request: &Request, connection: &dyn Connection) -> Response;
}

/// The front end's component: the root of every composition. It is what the server's accept
/// loop calls; it measures the workload (for environment classes) and calls the handler.
pub trait Frontend: hatch::components::Component {
    /// Serves `request` (see [`HttpHandler::handle`]).
    fn handle(&self, request: &Request, connection: &dyn Connection) -> Response;
}

hatch::include_proxies!("http");
