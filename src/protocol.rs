//! The PostgreSQL wire protocol, one connection.
//!
//! Messages are framed and parsed by `pgwire`'s codec; this module is the state
//! machine around them:
//!
//! ```text
//!   SSLRequest? ─► 'S' + TLS handshake (rustls) | 'N'
//!   StartupMessage ─► authentication (SCRAM-SHA-256, or trust where configured)
//!                  ─► ParameterStatus…, BackendKeyData, ReadyForQuery
//!   loop:
//!     Query ───────────► per statement: RowDescription, DataRow…, CommandComplete
//!     Parse/Bind/Describe/Execute/Close … Sync   (errors skip to Sync)
//!     CopyData…CopyDone  (COPY FROM STDIN)
//!     Terminate / EOF ─► the session ends; an open transaction rolls back
//! ```
//!
//! Client input never takes the server down: malformed or oversized messages
//! get an error and the connection closes; each connection is its own task,
//! so a slow or vanished client blocks only itself. Every statement runs under
//! `statement_timeout` and can be cancelled (CancelRequest, pg_cancel_backend);
//! an idle transaction is ended after `idle_in_transaction_session_timeout`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::api::auth::sasl::scram::{ScramSecret, ScramServerAuth};
use pgwire::messages::copy::{CopyData, CopyDone, CopyInResponse, CopyOutResponse};
use pgwire::messages::data::{FieldDescription, NoData, ParameterDescription, RowDescription};
use pgwire::messages::extendedquery::{BindComplete, CloseComplete, ParseComplete, PortalSuspended};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse, NoticeResponse, ReadyForQuery, SslResponse, TransactionStatus};
use pgwire::messages::startup::{Authentication, BackendKeyData, ParameterStatus, SecretKey};
use pgwire::messages::{DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion, SslNegotiationMetaMessage};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder, Framed};

use crate::connection_threads::Placement;
use crate::error::{SqlError, SqlResult};
use crate::server::{Conn, Registry, Server};
use crate::session::{Outcome, RowStream, Session};
use crate::settings::Values;
use crate::sql::parse;
use crate::sql::query::FieldInfo;

/// Largest message accepted from a client (a COPY chunk, a query, a Bind).
pub const MAX_MESSAGE: usize = 256 << 20;
/// Output is flushed to the socket once this much is buffered.
const FLUSH_AT: usize = 64 << 10;

// ---------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// pgwire's message codec, with our own size limit checked before buffering.
pub struct Codec {
    ctx: DecodeContext,
}

impl Codec {
    pub fn new() -> Codec {
        let mut ctx = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        ctx.awaiting_frontend_ssl = true;
        ctx.awaiting_frontend_startup = true;
        Codec { ctx }
    }
}

impl Decoder for Codec {
    type Item = PgWireFrontendMessage;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
        let len_at = if self.ctx.awaiting_frontend_startup { 0 } else { 1 };
        if src.len() >= len_at + 4 {
            let len = u32::from_be_bytes(src[len_at..len_at + 4].try_into().unwrap()) as usize;
            if len < 4 || len > MAX_MESSAGE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("invalid message length {len}")));
            }
            src.reserve(len + len_at - src.len().min(len + len_at));
        }
        PgWireFrontendMessage::decode(src, &self.ctx).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }
}

impl Encoder<PgWireBackendMessage> for Codec {
    type Error = io::Error;

    fn encode(&mut self, item: PgWireBackendMessage, dst: &mut BytesMut) -> io::Result<()> {
        item.encode(dst).map_err(|e| io::Error::other(e.to_string()))
    }
}

pub type Wire = Framed<Stream, Codec>;

async fn send(w: &mut Wire, m: PgWireBackendMessage) -> io::Result<()> {
    w.feed(m).await?;
    if w.write_buffer().len() >= FLUSH_AT {
        w.flush().await?;
    }
    Ok(())
}

async fn send_error(w: &mut Wire, e: &SqlError) -> io::Result<()> {
    w.feed(PgWireBackendMessage::ErrorResponse(e.to_response())).await
}

fn status_of(b: u8) -> TransactionStatus {
    match b {
        b'T' => TransactionStatus::Transaction,
        b'E' => TransactionStatus::Error,
        _ => TransactionStatus::Idle,
    }
}

// ---------------------------------------------------------------------------
// Startup and authentication
// ---------------------------------------------------------------------------

/// Serves one client connection until it ends (or, on a connection thread,
/// until it moves to another: `connection_threads`).
pub async fn serve(
    server: Arc<Server>,
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    placement: Option<Placement>,
) {
    let _ = socket.set_nodelay(true);
    server.metrics.connections_total.fetch_add(1, Ordering::Relaxed);
    let timeout = Duration::from_millis(server.session_defaults().duration_ms("authentication_timeout").max(1000));
    let started = tokio::time::timeout(timeout, startup(&server, socket, peer, tls)).await;
    let (wire, session, guard) = match started {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "connection failed during startup");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "startup timed out");
            return;
        }
    };
    let conn = Connection { session, conn: guard.conn.clone(), skip_to_sync: false, state: "", placement };
    serve_session(conn, wire, guard, peer).await;
}

/// A session between two messages, on its way to another connection thread:
/// everything it is, with its socket out of any runtime's reactor.
pub struct IdleSession {
    conn: Connection,
    socket: std::net::TcpStream,
    codec: Codec,
    /// Bytes of the client's next message already read, if any.
    read_buf: BytesMut,
    guard: crate::server::ConnGuard,
    peer: SocketAddr,
}

impl IdleSession {
    pub fn placement_mut(&mut self) -> &mut Placement {
        self.conn.placement.as_mut().expect("only sessions on connection threads move")
    }

    pub fn server(&self) -> &Arc<Server> {
        self.conn.session.server()
    }
}

/// Goes on serving a session that moved to this thread.
pub async fn resume(idle: Box<IdleSession>) {
    let IdleSession { conn, socket, codec, read_buf, guard, peer } = *idle;
    let socket = match TcpStream::from_std(socket) {
        Ok(s) => s,
        Err(e) => return tracing::warn!(%peer, error = %e, "could not register a moved session's connection"),
    };
    let mut parts = tokio_util::codec::FramedParts::new(Stream::Plain(socket), codec);
    parts.read_buf = read_buf;
    serve_session(conn, Framed::from_parts(parts), guard, peer).await;
}

/// Runs a started session's message loop until it ends or moves.
async fn serve_session(mut conn: Connection, mut wire: Wire, guard: crate::server::ConnGuard, peer: SocketAddr) {
    match conn.run(&mut wire).await {
        Ok(Some(to)) => {
            let parts = wire.into_parts();
            let Stream::Plain(socket) = parts.io else { unreachable!("should_move keeps TLS sessions in place") };
            debug_assert!(parts.write_buf.is_empty(), "a session moves with its output flushed");
            match socket.into_std() {
                Ok(socket) => {
                    let idle = IdleSession { conn, socket, codec: parts.codec, read_buf: parts.read_buf, guard, peer };
                    return Placement::move_to(Box::new(idle), to);
                }
                Err(e) => tracing::warn!(%peer, error = %e, "could not take a moving session's connection off this thread"),
            }
            return;
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(%peer, error = %e, "connection closed"),
    }
    let _ = wire.flush().await;
    drop(guard);
}

async fn startup(
    server: &Arc<Server>,
    socket: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<Option<(Wire, Session, crate::server::ConnGuard)>> {
    let mut wire = Framed::new(Stream::Plain(socket), Codec::new());
    // SSL / GSS negotiation, then the startup packet (or a cancel request).
    let startup = loop {
        let Some(msg) = wire.next().await else { return Ok(None) };
        match msg? {
            PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::PostgresSsl(_)) => match &tls {
                Some(acceptor) if !matches!(wire.get_ref(), Stream::Tls(_)) => {
                    wire.send(PgWireBackendMessage::SslResponse(SslResponse::Accept)).await?;
                    let parts = wire.into_parts();
                    if !parts.read_buf.is_empty() {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "data after SSLRequest before the TLS handshake"));
                    }
                    let Stream::Plain(tcp) = parts.io else { unreachable!() };
                    let tls_stream = acceptor.accept(tcp).await?;
                    let mut codec = parts.codec;
                    codec.ctx.awaiting_frontend_ssl = false;
                    wire = Framed::new(Stream::Tls(Box::new(tls_stream)), codec);
                }
                _ => wire.send(PgWireBackendMessage::SslResponse(SslResponse::Refuse)).await?,
            },
            PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::PostgresGss(_)) => {
                wire.send(PgWireBackendMessage::GssEncResponse(pgwire::messages::response::GssEncResponse::Refuse)).await?;
            }
            PgWireFrontendMessage::SslNegotiation(SslNegotiationMetaMessage::None) => {
                wire.codec_mut().ctx.awaiting_frontend_ssl = false;
            }
            PgWireFrontendMessage::CancelRequest(c) => {
                let secret = match c.secret_key {
                    SecretKey::I32(s) => s,
                    SecretKey::Bytes(b) => b.get(..4).map(|x| i32::from_be_bytes(x.try_into().unwrap())).unwrap_or(0),
                };
                server.registry.cancel(c.pid, secret);
                return Ok(None);
            }
            PgWireFrontendMessage::Startup(s) => break s,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "expected a startup message")),
        }
    };
    wire.codec_mut().ctx.awaiting_frontend_startup = false;
    let params = &startup.parameters;
    let user = params.get("user").cloned().unwrap_or_default();
    let database = params.get("database").cloned().unwrap_or_else(|| user.clone());
    let replication =
        params.get("replication").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "on" | "1" | "yes" | "database"));
    let fatal = |code: &'static str, msg: String| SqlError::fatal(code, msg);
    if user.is_empty() {
        send_error(&mut wire, &fatal("28000", "no PostgreSQL user name specified in startup packet".into())).await?;
        wire.flush().await?;
        return Ok(None);
    }
    if startup.protocol_number_major != 3 {
        send_error(
            &mut wire,
            &fatal("0A000", format!("unsupported frontend protocol {}.{}", startup.protocol_number_major, startup.protocol_number_minor)),
        )
        .await?;
        wire.flush().await?;
        return Ok(None);
    }
    // Authentication.
    let catalog = server.catalog();
    let role = catalog.roles.get(&user).cloned();
    let method = server.setting("authentication_method");
    let authed = match method.as_str() {
        "trust" => role.as_ref().is_some_and(|r| r.login),
        _ => scram(&mut wire, role.as_ref().and_then(|r| if r.login { r.password.clone() } else { None })).await?,
    };
    if !authed {
        let e = if method == "trust" {
            fatal("28000", format!("role \"{user}\" does not exist"))
        } else {
            fatal("28P01", format!("password authentication failed for user \"{user}\""))
        };
        send_error(&mut wire, &e).await?;
        wire.flush().await?;
        tracing::info!(%peer, %user, "authentication failed");
        return Ok(None);
    }
    let role = role.unwrap();
    if replication && !role.replication && !role.superuser {
        send_error(&mut wire, &fatal("42501", "must be superuser or replication role to start walsender".into())).await?;
        wire.flush().await?;
        return Ok(None);
    }
    if !replication && !catalog.databases.contains_key(&database) {
        send_error(&mut wire, &fatal("3D000", format!("database \"{database}\" does not exist"))).await?;
        wire.flush().await?;
        return Ok(None);
    }
    let defaults = server.session_defaults();
    let max = defaults.get_or_default("max_connections").parse::<usize>().unwrap_or(200);
    let reserved = defaults.get_or_default("superuser_reserved_connections").parse::<usize>().unwrap_or(3);
    let in_use = server.registry.count("client backend");
    let limit = if role.superuser { max } else { max.saturating_sub(reserved) };
    if !replication && in_use >= limit {
        send_error(&mut wire, &fatal("53300", "sorry, too many clients already".into())).await?;
        wire.flush().await?;
        return Ok(None);
    }
    // Session settings: server defaults, then startup parameters.
    let mut settings: Values = defaults;
    let _ = settings.set_unchecked("is_superuser", if role.superuser { "on" } else { "off" });
    let _ = settings.set_unchecked("session_authorization", &user);
    let mut startup_error = None;
    for (k, v) in params {
        match k.as_str() {
            "user" | "database" | "replication" => {}
            "options" => {
                // `-c name=value` pairs (PGOPTIONS).
                let mut it = v.split_whitespace();
                while let Some(tok) = it.next() {
                    let kv = if tok == "-c" { it.next().unwrap_or("") } else { tok.trim_start_matches("--").trim_start_matches("-c") };
                    if let Some((n, val)) = kv.split_once('=')
                        && let Err(e) = settings.set_unchecked(&n.replace('-', "_"), val)
                    {
                        startup_error = Some(e);
                    }
                }
            }
            "client_encoding" if v.eq_ignore_ascii_case("auto") => {}
            name => {
                if let Err(e) = settings.set_unchecked(name, v)
                    && crate::settings::find(name).is_some()
                {
                    startup_error = Some(e);
                }
            }
        }
    }
    if let Some(mut e) = startup_error {
        e.severity = "FATAL";
        send_error(&mut wire, &e).await?;
        wire.flush().await?;
        return Ok(None);
    }
    let session_cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = settings.get_or_default("application_name").to_string();
    let guard = Registry::register(
        server,
        &user,
        &database,
        &app,
        Some(peer),
        if replication { "walsender" } else { "client backend" },
        session_cancel.clone(),
    );
    let session = Session::new(server.clone(), guard.conn.pid, &user, &database, Some(peer), settings.clone(), session_cancel);
    wire.feed(PgWireBackendMessage::Authentication(Authentication::Ok)).await?;
    for s in crate::settings::SETTINGS.iter().filter(|s| s.reported) {
        wire.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            s.name.to_string(),
            settings.get_or_default(s.name).to_string(),
        )))
        .await?;
    }
    wire.feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(guard.conn.pid, SecretKey::I32(guard.conn.secret)))).await?;
    wire.feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
    wire.flush().await?;
    tracing::debug!(%peer, %user, %database, pid = guard.conn.pid, replication, "connection authorized");
    Ok(Some((wire, session, guard)))
}

/// Parses PostgreSQL's SCRAM verifier: `SCRAM-SHA-256$iter:salt$stored:server`.
fn parse_verifier(v: &str) -> Option<ScramSecret> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let rest = v.strip_prefix("SCRAM-SHA-256$")?;
    let (iter_salt, keys) = rest.split_once('$')?;
    let (iter, salt) = iter_salt.split_once(':')?;
    let (stored, server) = keys.split_once(':')?;
    Some(ScramSecret::Verifier {
        salt: b64.decode(salt).ok()?,
        iterations: iter.parse().ok()?,
        stored_key: b64.decode(stored).ok()?,
        server_key: b64.decode(server).ok()?,
    })
}

/// SCRAM-SHA-256 exchange. A missing role or password still runs the exchange
/// against a random verifier, so failures do not reveal which roles exist.
async fn scram(wire: &mut Wire, verifier: Option<String>) -> io::Result<bool> {
    let real = verifier.as_deref().and_then(parse_verifier);
    let known = real.is_some();
    let secret = real.unwrap_or_else(|| {
        let salt: [u8; 16] = rand::random();
        ScramSecret::Verifier { salt: salt.to_vec(), iterations: 4096, stored_key: vec![0; 32], server_key: vec![0; 32] }
    });
    wire.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec!["SCRAM-SHA-256".into()]))).await?;
    let Some(msg) = wire.next().await else { return Ok(false) };
    let PgWireFrontendMessage::PasswordMessageFamily(p) = msg? else { return Ok(false) };
    let Ok(initial) = p.into_sasl_initial_response() else { return Ok(false) };
    if initial.auth_method != "SCRAM-SHA-256" {
        return Ok(false);
    }
    let auth = ScramServerAuth::new();
    let Ok((server_first, waiting)) = auth.on_client_first_message_with_secret(initial.data.as_deref().unwrap_or(&[]), secret) else {
        return Ok(false);
    };
    wire.send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(server_first.into()))).await?;
    let Some(msg) = wire.next().await else { return Ok(false) };
    let PgWireFrontendMessage::PasswordMessageFamily(p) = msg? else { return Ok(false) };
    let Ok(resp) = p.into_sasl_response() else { return Ok(false) };
    match waiting.on_client_final_message(&resp.data) {
        Ok(server_final) if known => {
            wire.feed(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into()))).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

// ---------------------------------------------------------------------------
// The message loop
// ---------------------------------------------------------------------------

struct Connection {
    session: Session,
    conn: Arc<Conn>,
    /// After an error in the extended protocol: ignore messages until Sync.
    skip_to_sync: bool,
    /// The state last shown in pg_stat_activity.
    state: &'static str,
    /// The connection thread it runs on; None on the shared pool.
    placement: Option<Placement>,
}

/// Why a statement stopped.
enum Stop {
    Done(SqlResult<()>),
    Io(io::Error),
}

impl Connection {
    /// Serves messages until the session ends (None) or should move to
    /// another connection thread (Some(thread), between two messages).
    async fn run(&mut self, wire: &mut Wire) -> io::Result<Option<usize>> {
        loop {
            // A message already in the read buffer (a pipelined Bind/Execute/
            // Sync) is taken at once: the session is not idle, so no idle
            // state and no idle timer.
            let next = match wire.next().now_or_never() {
                Some(next) => next,
                None => {
                    if let Some(to) = self.should_move(wire) {
                        return Ok(Some(to));
                    }
                    self.next_when_idle(wire).await?
                }
            };
            let msg = match next {
                None => return Ok(None),
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    let _ = send_error(wire, &SqlError::fatal("08P01", format!("invalid frontend message: {e}"))).await;
                    return Ok(None);
                }
            };
            self.set_state("active");
            if self.skip_to_sync && !matches!(msg, PgWireFrontendMessage::Sync(_)) {
                continue;
            }
            match msg {
                PgWireFrontendMessage::Query(q) => self.simple_query(wire, &q.query).await?,
                PgWireFrontendMessage::Parse(p) => {
                    let name = p.name.clone().unwrap_or_default();
                    let timeout = self.session.env.settings.lock().duration_ms("statement_timeout");
                    let r = guard(&self.conn, timeout, self.session.parse_message(&name, &p.query, &p.type_oids)).await;
                    match r {
                        Ok(()) => send(wire, PgWireBackendMessage::ParseComplete(ParseComplete::new())).await?,
                        Err(e) => self.extended_error(wire, e).await?,
                    }
                }
                PgWireFrontendMessage::Bind(b) => {
                    let portal = b.portal_name.clone().unwrap_or_default();
                    let stmt = b.statement_name.clone().unwrap_or_default();
                    match self.session.bind_message(&portal, &stmt, &b.parameter_format_codes, &b.parameters, &b.result_column_format_codes)
                    {
                        Ok(()) => send(wire, PgWireBackendMessage::BindComplete(BindComplete::new())).await?,
                        Err(e) => self.extended_error(wire, e).await?,
                    }
                }
                PgWireFrontendMessage::Describe(d) => {
                    let name = d.name.clone().unwrap_or_default();
                    let r = if d.target_type == b'S' {
                        self.session.describe_statement(&name).map(|(params, fields)| (Some(params), fields))
                    } else {
                        self.session.describe_portal(&name).map(|f| (None, f))
                    };
                    match r {
                        Ok((params, fields)) => {
                            if let Some(p) = params {
                                send(wire, PgWireBackendMessage::ParameterDescription(ParameterDescription::new(p))).await?;
                            }
                            match fields {
                                Some(f) => send(wire, PgWireBackendMessage::RowDescription(row_description(&f))).await?,
                                None => send(wire, PgWireBackendMessage::NoData(NoData::new())).await?,
                            }
                        }
                        Err(e) => self.extended_error(wire, e).await?,
                    }
                }
                PgWireFrontendMessage::Execute(e) => {
                    let portal = e.name.clone().unwrap_or_default();
                    self.execute(wire, &portal, e.max_rows.max(0) as usize).await?;
                }
                PgWireFrontendMessage::Close(c) => {
                    let name = c.name.clone().unwrap_or_default();
                    if c.target_type == b'S' {
                        self.session.prepared.remove(&name);
                    } else {
                        self.session.portals.remove(&name);
                    }
                    send(wire, PgWireBackendMessage::CloseComplete(CloseComplete::new())).await?;
                }
                PgWireFrontendMessage::Sync(_) => {
                    self.skip_to_sync = false;
                    if let Err(e) = self.session.end_implicit().await {
                        send_error(wire, &e).await?;
                    }
                    self.send_ready(wire).await?;
                }
                PgWireFrontendMessage::Flush(_) => wire.flush().await?,
                PgWireFrontendMessage::Terminate(_) => return Ok(None),
                PgWireFrontendMessage::CopyData(_) | PgWireFrontendMessage::CopyDone(_) | PgWireFrontendMessage::CopyFail(_) => {
                    // Stray copy messages outside COPY are ignored, as PostgreSQL does.
                }
                _ => {
                    send_error(wire, &SqlError::fatal("08P01", "unexpected message type")).await?;
                    return Ok(None);
                }
            }
            if self.conn.terminate.load(Ordering::Relaxed) {
                send_error(wire, &SqlError::fatal("57P01", "terminating connection due to administrator command")).await?;
                return Ok(None);
            }
        }
    }

    /// Whether the session, about to wait for its client's next message,
    /// should move to another connection thread first. Only a plain-TCP
    /// session with nothing left to write moves.
    fn should_move(&mut self, wire: &Wire) -> Option<usize> {
        let placement = self.placement.as_mut()?;
        let Stream::Plain(socket) = wire.get_ref() else { return None };
        if !wire.write_buffer().is_empty() {
            return None;
        }
        placement.should_move(socket)
    }

    /// Waits for the client's next message while the session is idle (or
    /// idle in a transaction), under the idle timeouts; None when the session
    /// ends (the client closed the connection, a timeout, a shutdown — the
    /// client was told why).
    async fn next_when_idle(&mut self, wire: &mut Wire) -> io::Result<Option<io::Result<PgWireFrontendMessage>>> {
        let server = self.session.server().clone();
        let idle_in_txn = self.session.status() != b'I';
        let limit = {
            let s = self.session.env.settings.lock();
            if idle_in_txn { s.duration_ms("idle_in_transaction_session_timeout") } else { s.duration_ms("idle_session_timeout") }
        };
        self.set_state(if !idle_in_txn {
            "idle"
        } else if self.session.status() == b'E' {
            "idle in transaction (aborted)"
        } else {
            "idle in transaction"
        });
        tokio::select! {
            m = wire.next() => Ok(m),
            _ = server.shutdown.cancelled() => {
                send_error(wire, &SqlError::fatal("57P01", "terminating connection due to administrator command")).await?;
                Ok(None)
            }
            _ = deadline(limit) => {
                let e = if idle_in_txn {
                    SqlError::fatal("25P03", "terminating connection due to idle-in-transaction timeout")
                } else {
                    SqlError::fatal("57P05", "terminating connection due to idle-session timeout")
                };
                send_error(wire, &e).await?;
                Ok(None)
            }
            _ = self.terminated() => {
                send_error(wire, &SqlError::fatal("57P01", "terminating connection due to administrator command")).await?;
                Ok(None)
            }
        }
    }

    /// pg_stat_activity's state for this backend.
    fn set_state(&mut self, state: &'static str) {
        if self.state != state {
            self.state = state;
            *self.conn.state.lock() = state;
        }
    }

    async fn terminated(&self) {
        loop {
            if self.conn.terminate.load(Ordering::Relaxed) {
                return;
            }
            let n = self.conn.cancel_notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.conn.terminate.load(Ordering::Relaxed) {
                return;
            }
            n.await;
        }
    }

    async fn send_ready(&mut self, wire: &mut Wire) -> io::Result<()> {
        self.flush_notices(wire).await?;
        wire.feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(status_of(self.session.status())))).await?;
        wire.flush().await
    }

    async fn flush_notices(&mut self, wire: &mut Wire) -> io::Result<()> {
        for (name, value) in self.session.take_reported() {
            if name == "application_name" {
                *self.conn.application_name.lock() = value.clone();
            }
            wire.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
        }
        for n in std::mem::take(&mut self.session.notices) {
            wire.feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::new(n.fields()))).await?;
        }
        Ok(())
    }

    async fn extended_error(&mut self, wire: &mut Wire, e: SqlError) -> io::Result<()> {
        self.session.server().metrics.errors.fetch_add(1, Ordering::Relaxed);
        self.flush_notices(wire).await?;
        send_error(wire, &e).await?;
        self.skip_to_sync = true;
        Ok(())
    }

    // ------------------------------------------------------------------
    // Simple query
    // ------------------------------------------------------------------

    async fn simple_query(&mut self, wire: &mut Wire, sql: &str) -> io::Result<()> {
        let pieces = parse::split(sql);
        if pieces.is_empty() {
            send(wire, PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
            return self.send_ready(wire).await;
        }
        let mut failed = false;
        for piece in &pieces {
            self.session.server().metrics.statements.fetch_add(1, Ordering::Relaxed);
            match self.statement(wire, piece).await {
                Stop::Io(e) => return Err(e),
                Stop::Done(Ok(())) => {}
                Stop::Done(Err(e)) => {
                    self.session.server().metrics.errors.fetch_add(1, Ordering::Relaxed);
                    self.flush_notices(wire).await?;
                    send_error(wire, &e).await?;
                    failed = true;
                    if e.severity == "FATAL" {
                        wire.flush().await?;
                        return Err(io::Error::other("fatal error"));
                    }
                    break;
                }
            }
        }
        if !failed && let Err(e) = self.session.end_implicit().await {
            send_error(wire, &e).await?;
        }
        self.send_ready(wire).await
    }

    /// Runs one statement of a simple Query and sends its results.
    async fn statement(&mut self, wire: &mut Wire, piece: &parse::Piece) -> Stop {
        let conn = self.conn.clone();
        // A WAL sender streams for as long as the standby is connected.
        let timeout = if conn.backend_type == "walsender" { 0 } else { self.session.env.settings.lock().duration_ms("statement_timeout") };
        conn.cancel.store(false, Ordering::SeqCst);
        let work = async {
            if self.conn.backend_type == "walsender"
                && let Ok(parse::Parsed::Special(sp)) = parse::parse(piece)
                && crate::walsender::is_replication_command(&sp)
            {
                let server = self.session.server().clone();
                return match crate::walsender::command(&server, &self.conn, wire, sp).await {
                    Err(e) => Stop::Io(e),
                    Ok(crate::walsender::Handled::Done(r)) => Stop::Done(r),
                    Ok(crate::walsender::Handled::Outcome(o)) => self.deliver(wire, o, 0, true, None).await,
                };
            }
            let outcome = self.session.run_text(piece).await;
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return Stop::Done(Err(e)),
            };
            if let Err(e) = self.flush_notices(wire).await {
                return Stop::Io(e);
            }
            self.deliver(wire, outcome, 0, true, None).await
        };
        let stop = tokio::select! {
            s = work => s,
            _ = deadline(timeout) => {
                Stop::Done(Err(SqlError::new("57014", "canceling statement due to statement timeout")))
            }
            _ = wait_cancel(&conn) => {
                Stop::Done(Err(if conn.terminate.load(Ordering::Relaxed) {
                    SqlError::fatal("57P01", "terminating connection due to administrator command")
                } else {
                    SqlError::new("57014", "canceling statement due to user request")
                }))
            }
        };
        if let Stop::Done(Err(_)) = &stop {
            // The statement failed wherever it was (planning, while streaming
            // rows, interrupted): an implicit transaction rolls back, an
            // explicit one is failed until ROLLBACK. (Idempotent if the
            // session already did so.)
            self.session.copy_in = None;
            self.session.statement_failed();
        }
        stop
    }

    /// Sends a statement's outcome. `max` limits rows (portals); `describe`
    /// sends the RowDescription first (simple protocol).
    async fn deliver(&mut self, wire: &mut Wire, outcome: Outcome, max: usize, describe: bool, portal: Option<&str>) -> Stop {
        let style = self.session.env.style();
        let res: io::Result<SqlResult<()>> = async {
            match outcome {
                Outcome::Empty => {
                    send(wire, PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
                }
                Outcome::Command(tag) => {
                    send(wire, PgWireBackendMessage::CommandComplete(CommandComplete::new(tag))).await?;
                }
                Outcome::Rows(mut rs) => {
                    if describe {
                        send(wire, PgWireBackendMessage::RowDescription(row_description(&rs.fields))).await?;
                    }
                    let mut rows = Vec::with_capacity(64);
                    let mut done = false;
                    let mut sent = 0usize;
                    while !done {
                        let chunk = if max == 0 { 256 } else { (max - sent).min(256) };
                        let r = rs.next_rows(chunk, &style, &mut |row| rows.push(row)).await;
                        for row in rows.drain(..) {
                            send(wire, PgWireBackendMessage::DataRow(row)).await?;
                        }
                        sent += chunk;
                        match r {
                            Err(e) => return Ok(Err(e)),
                            Ok(true) => done = true,
                            Ok(false) if max != 0 && sent >= max => {
                                send(wire, PgWireBackendMessage::PortalSuspended(PortalSuspended::new())).await?;
                                if let Some(p) = portal {
                                    self.session.suspend_portal(p, rs);
                                }
                                return Ok(Ok(()));
                            }
                            Ok(false) => {}
                        }
                    }
                    send(wire, PgWireBackendMessage::CommandComplete(CommandComplete::new(rs.command_tag()))).await?;
                }
                Outcome::CopyIn(ci) => {
                    let fmt = if ci.csv { 0 } else { 0 };
                    wire.send(PgWireBackendMessage::CopyInResponse(CopyInResponse::new(fmt, ci.columns as i16, vec![0; ci.columns])))
                        .await?;
                    loop {
                        let Some(msg) = wire.next().await else {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client vanished during COPY"));
                        };
                        match msg? {
                            PgWireFrontendMessage::CopyData(d) => {
                                if let Err(e) = Box::pin(self.session.copy_data(&d.data)).await {
                                    // Swallow the rest of the copy stream, then report.
                                    self.drain_copy(wire).await?;
                                    self.session.copy_in = None;
                                    return Ok(Err(e));
                                }
                            }
                            PgWireFrontendMessage::CopyDone(_) => match Box::pin(self.session.copy_done()).await {
                                Ok(tag) => {
                                    send(wire, PgWireBackendMessage::CommandComplete(CommandComplete::new(tag))).await?;
                                    break;
                                }
                                Err(e) => {
                                    self.session.copy_in = None;
                                    return Ok(Err(e));
                                }
                            },
                            PgWireFrontendMessage::CopyFail(f) => return Ok(Err(self.session.copy_fail(&f.message))),
                            PgWireFrontendMessage::Flush(_) | PgWireFrontendMessage::Sync(_) => {}
                            _ => {
                                self.session.copy_in = None;
                                return Ok(Err(SqlError::protocol("unexpected message type during COPY")));
                            }
                        }
                    }
                }
                Outcome::CopyOut(mut rs, format) => {
                    let n = rs.fields.len();
                    send(wire, PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(0, n as i16, vec![0; n]))).await?;
                    if let Some(h) = crate::session::copy::header_row(&rs, &format) {
                        send(wire, PgWireBackendMessage::CopyData(CopyData::new(h.into()))).await?;
                    }
                    loop {
                        let mut lines = Vec::new();
                        let fields = rs.fields.clone();
                        let r = rs.next_rows(256, &style, &mut |row| lines.push(row)).await;
                        for row in lines {
                            let values = datarow_text_values(&row, fields.len());
                            let bytes = crate::session::copy::format_row(&values, &format);
                            send(wire, PgWireBackendMessage::CopyData(CopyData::new(bytes.into()))).await?;
                        }
                        match r {
                            Err(e) => return Ok(Err(e)),
                            Ok(true) => break,
                            Ok(false) => {}
                        }
                    }
                    send(wire, PgWireBackendMessage::CopyDone(CopyDone::new())).await?;
                    send(wire, PgWireBackendMessage::CommandComplete(CommandComplete::new(rs.command_tag()))).await?;
                }
            }
            Ok(Ok(()))
        }
        .await;
        match res {
            Ok(r) => Stop::Done(r),
            Err(e) => Stop::Io(e),
        }
    }

    /// After a failed CopyData: read and drop messages up to CopyDone/CopyFail.
    async fn drain_copy(&mut self, wire: &mut Wire) -> io::Result<()> {
        while let Some(msg) = wire.next().await {
            match msg? {
                PgWireFrontendMessage::CopyDone(_) | PgWireFrontendMessage::CopyFail(_) => return Ok(()),
                PgWireFrontendMessage::CopyData(_) | PgWireFrontendMessage::Flush(_) => {}
                PgWireFrontendMessage::Sync(_) => return Ok(()),
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Extended query: Execute
    // ------------------------------------------------------------------

    async fn execute(&mut self, wire: &mut Wire, portal: &str, max: usize) -> io::Result<()> {
        let conn = self.conn.clone();
        let timeout = self.session.env.settings.lock().duration_ms("statement_timeout");
        conn.cancel.store(false, Ordering::SeqCst);
        self.session.server().metrics.statements.fetch_add(1, Ordering::Relaxed);
        let work = async {
            let outcome = match self.session.execute_portal(portal).await {
                Ok(Some(o)) => o,
                Ok(None) => return Stop::Done(Ok(())),
                Err(e) => return Stop::Done(Err(e)),
            };
            if let Err(e) = self.flush_notices(wire).await {
                return Stop::Io(e);
            }
            self.deliver(wire, outcome, max, false, Some(portal)).await
        };
        let stop = tokio::select! {
            s = work => s,
            _ = deadline(timeout) => {
                Stop::Done(Err(SqlError::new("57014", "canceling statement due to statement timeout")))
            }
            _ = wait_cancel(&conn) => {
                Stop::Done(Err(SqlError::new("57014", "canceling statement due to user request")))
            }
        };
        match stop {
            Stop::Io(e) => Err(e),
            Stop::Done(Ok(())) => Ok(()),
            Stop::Done(Err(e)) => {
                self.session.copy_in = None;
                self.session.statement_failed();
                self.extended_error(wire, e).await
            }
        }
    }
}

/// Runs a statement-level future under statement_timeout and cancellation.
async fn guard<T>(conn: &Conn, timeout: u64, fut: impl std::future::Future<Output = SqlResult<T>>) -> SqlResult<T> {
    conn.cancel.store(false, Ordering::SeqCst);
    tokio::select! {
        r = fut => r,
        _ = deadline(timeout) => {
            Err(SqlError::new("57014", "canceling statement due to statement timeout"))
        }
        _ = wait_cancel(conn) => {
            if conn.terminate.load(Ordering::Relaxed) {
                Err(SqlError::fatal("57P01", "terminating connection due to administrator command"))
            } else {
                Err(SqlError::new("57014", "canceling statement due to user request"))
            }
        }
    }
}

/// Completes after `ms` milliseconds; never when `ms` is 0 (the setting is
/// off: no timer is armed at all).
async fn deadline(ms: u64) {
    if ms == 0 {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

async fn wait_cancel(conn: &Conn) {
    loop {
        if conn.cancel.load(Ordering::SeqCst) {
            return;
        }
        let n = conn.cancel_notify.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        if conn.cancel.load(Ordering::SeqCst) {
            return;
        }
        n.await;
    }
}

pub fn row_description(fields: &[FieldInfo]) -> RowDescription {
    RowDescription::new(
        fields
            .iter()
            .map(|f| {
                FieldDescription::new(
                    f.name.clone(),
                    f.table_oid as i32,
                    f.attnum,
                    f.ty.oid,
                    crate::pg::oid::type_len(f.ty.oid),
                    f.ty.typmod,
                    match f.format {
                        crate::pg::encode::Format::Text => 0,
                        crate::pg::encode::Format::Binary => 1,
                    },
                )
            })
            .collect(),
    )
}

/// Reads the text cells back out of an encoded DataRow (COPY TO uses the
/// same text encoding as query results).
fn datarow_text_values(row: &pgwire::messages::data::DataRow, n: usize) -> Vec<Option<String>> {
    let mut b = &row.data[..];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if b.len() < 4 {
            break;
        }
        let len = b.get_i32();
        if len < 0 {
            out.push(None);
        } else {
            let (v, rest) = b.split_at(len as usize);
            out.push(Some(String::from_utf8_lossy(v).into_owned()));
            b = rest;
        }
    }
    out
}

#[allow(dead_code)]
fn _unused(_: RowStream) {}
