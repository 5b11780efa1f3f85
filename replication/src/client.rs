//! A small PostgreSQL frontend for replication connections.
//!
//! tokio-postgres has no CopyBoth (the mode START_REPLICATION runs in), so
//! the standby speaks the protocol itself, with `postgres-protocol` (the crate
//! under tokio-postgres) building and parsing the messages and doing SCRAM:
//!
//! ```text
//!   StartupMessage(user, database, replication=true, application_name)
//!     ◄ Authentication… (SCRAM-SHA-256 / cleartext / md5 / ok)  ◄ ParameterStatus… ReadyForQuery
//!   Query("BASE_BACKUP …")       ◄ CopyOutResponse ◄ CopyData… ◄ CopyDone ◄ CommandComplete ◄ ReadyForQuery
//!   Query("START_REPLICATION …") ◄ CopyBothResponse ⇄ CopyData both ways
//! ```
//!
//! Every read is bounded (a message larger than `MAX_MESSAGE` is an error), and
//! every error from the server comes back as `ClientError::Server` with its
//! SQLSTATE, so the receiver can tell "rebuild needed" from "try again".

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const MAX_MESSAGE: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection to the primary: {0}")]
    Io(#[from] std::io::Error),
    #[error("primary: {message} (SQLSTATE {code})")]
    Server { code: String, message: String },
    #[error("replication protocol: {0}")]
    Protocol(String),
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub application_name: String,
}

impl ConnInfo {
    /// Parses `host:port` (or a bare host, port 5432).
    pub fn parse(primary: &str, user: &str, password: Option<String>, application_name: &str) -> Result<ConnInfo, String> {
        let (host, port) = match primary.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| format!("bad port in primary address {primary:?}"))?),
            None => (primary.to_string(), 5432),
        };
        if host.is_empty() {
            return Err(format!("no host in primary address {primary:?}"));
        }
        Ok(ConnInfo { host, port, user: user.into(), password, application_name: application_name.into() })
    }
}

/// What the server sent, reduced to what a replication client needs.
#[derive(Debug)]
pub enum Reply {
    CopyOut,
    CopyBoth,
    CopyData(Vec<u8>),
    CopyDone,
    Row(Vec<Option<String>>),
    Complete,
    Ready,
}

pub struct ReplicationClient {
    socket: TcpStream,
    buf: BytesMut,
    out: BytesMut,
}

impl ReplicationClient {
    pub async fn connect(info: &ConnInfo) -> Result<ReplicationClient, ClientError> {
        let socket = TcpStream::connect((info.host.as_str(), info.port)).await?;
        socket.set_nodelay(true)?;
        let mut c = ReplicationClient { socket, buf: BytesMut::with_capacity(64 << 10), out: BytesMut::new() };
        let params = [
            ("user", info.user.as_str()),
            ("database", "replication"),
            ("replication", "true"),
            ("application_name", info.application_name.as_str()),
        ];
        frontend::startup_message(params.iter().copied(), &mut c.out)?;
        c.flush().await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match c.read_message().await? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    let pw = info.password.as_deref().ok_or_else(|| no_password(info))?;
                    frontend::password_message(pw.as_bytes(), &mut c.out)?;
                    c.flush().await?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let pw = info.password.as_deref().ok_or_else(|| no_password(info))?;
                    let hash = postgres_protocol::authentication::md5_hash(info.user.as_bytes(), pw.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut c.out)?;
                    c.flush().await?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut mechs = body.mechanisms();
                    let mut ok = false;
                    while let Some(m) = fallible_next(&mut mechs)? {
                        ok |= m == "SCRAM-SHA-256";
                    }
                    if !ok {
                        return Err(ClientError::Protocol("the primary offers no SCRAM-SHA-256 authentication".into()));
                    }
                    let pw = info.password.as_deref().ok_or_else(|| no_password(info))?;
                    let s = ScramSha256::new(pw.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut c.out)?;
                    c.flush().await?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| ClientError::Protocol("SASL continue without SASL start".into()))?;
                    s.update(body.data())?;
                    frontend::sasl_response(s.message(), &mut c.out)?;
                    c.flush().await?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| ClientError::Protocol("SASL final without SASL start".into()))?;
                    s.finish(body.data())?;
                }
                Message::ParameterStatus(_) | Message::BackendKeyData(_) | Message::NoticeResponse(_) => {}
                Message::ReadyForQuery(_) => return Ok(c),
                Message::ErrorResponse(body) => return Err(server_error(&body)),
                _ => return Err(ClientError::Protocol("unexpected message during startup".into())),
            }
        }
    }

    /// Sends a simple query; read its replies with [`Self::next`].
    pub async fn query(&mut self, sql: &str) -> Result<(), ClientError> {
        frontend::query(sql, &mut self.out)?;
        self.flush().await
    }

    /// Runs a command that returns rows (IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT…).
    pub async fn simple(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ClientError> {
        self.query(sql).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.next_inner().await {
                Ok(Reply::Row(r)) => rows.push(r),
                Ok(Reply::Ready) => break,
                Ok(_) => {}
                Err(e @ ClientError::Server { .. }) => error = Some(e),
                Err(e) => return Err(e),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// The next reply. A server error is returned as `Err(Server)`.
    pub async fn next(&mut self) -> Result<Reply, ClientError> {
        self.next_inner().await
    }

    async fn next_inner(&mut self) -> Result<Reply, ClientError> {
        loop {
            // postgres-protocol does not parse CopyBothResponse ('W'): take it here.
            if self.buf.first() == Some(&b'W') && self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() >= 1 + len {
                    self.buf.advance(1 + len);
                    return Ok(Reply::CopyBoth);
                }
            }
            match self.try_parse()? {
                Some(Message::CopyOutResponse(_)) => return Ok(Reply::CopyOut),
                Some(Message::CopyData(d)) => return Ok(Reply::CopyData(d.data().to_vec())),
                Some(Message::CopyDone) => return Ok(Reply::CopyDone),
                Some(Message::DataRow(row)) => {
                    let mut vals = Vec::new();
                    let mut ranges = row.ranges();
                    while let Some(r) = fallible_next(&mut ranges)? {
                        vals.push(r.map(|r| String::from_utf8_lossy(&row.buffer()[r]).into_owned()));
                    }
                    return Ok(Reply::Row(vals));
                }
                Some(Message::CommandComplete(_)) => return Ok(Reply::Complete),
                Some(Message::ReadyForQuery(_)) => return Ok(Reply::Ready),
                Some(Message::ErrorResponse(body)) => return Err(server_error(&body)),
                Some(_) => continue,
                None => self.fill().await?,
            }
        }
    }

    pub async fn send_copy_data(&mut self, data: &[u8]) -> Result<(), ClientError> {
        frontend::CopyData::new(data)?.write(&mut self.out);
        self.flush().await
    }

    pub async fn send_copy_done(&mut self) -> Result<(), ClientError> {
        frontend::copy_done(&mut self.out);
        self.flush().await
    }

    pub async fn terminate(mut self) {
        frontend::terminate(&mut self.out);
        let _ = self.flush().await;
    }

    async fn read_message(&mut self) -> Result<Message, ClientError> {
        loop {
            if let Some(m) = self.try_parse()? {
                return Ok(m);
            }
            self.fill().await?;
        }
    }

    fn try_parse(&mut self) -> Result<Option<Message>, ClientError> {
        if self.buf.len() >= 5 {
            let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
            if len > MAX_MESSAGE {
                return Err(ClientError::Protocol(format!("message of {len} bytes from the primary is too large")));
            }
        }
        Ok(Message::parse(&mut self.buf)?)
    }

    async fn fill(&mut self) -> Result<(), ClientError> {
        self.buf.reserve(64 << 10);
        let n = self.socket.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(ClientError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the primary closed the connection")));
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ClientError> {
        if !self.out.is_empty() {
            self.socket.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }
}

fn no_password(info: &ConnInfo) -> ClientError {
    ClientError::Protocol(format!("the primary asks for a password for user \"{}\": set PGPASSWORD or --passfile", info.user))
}

fn fallible_next<I: fallible_iterator::FallibleIterator<Error = std::io::Error>>(it: &mut I) -> Result<Option<I::Item>, ClientError> {
    Ok(it.next()?)
}

fn server_error(body: &postgres_protocol::message::backend::ErrorResponseBody) -> ClientError {
    let (mut code, mut message, mut detail) = (String::new(), String::new(), String::new());
    let mut fields = body.fields();
    while let Ok(Some(f)) = fallible_iterator::FallibleIterator::next(&mut fields) {
        match f.type_() {
            b'C' => code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'D' => detail = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            _ => {}
        }
    }
    // The detail says why (an invalidated slot, a forked timeline): keep it.
    if !detail.is_empty() {
        message = format!("{message}. {detail}");
    }
    ClientError::Server { code, message }
}
