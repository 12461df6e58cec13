//! A fake SMTP server on loopback that speaks enough of RFC 5321 for a real client
//! (lettre): EHLO with `AUTH PLAIN LOGIN`, AUTH PLAIN checked against the expected
//! credentials, MAIL FROM, RCPT TO (refusing addresses it was told to refuse, as a
//! server does for an unknown mailbox), DATA with dot-unstuffing, RSET, NOOP and QUIT.
//! Every accepted message is kept for the test to inspect.

use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message the server accepted.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as sent, headers and body (dot-unstuffed, CRLF line ends).
    pub data: String,
    /// The user that authenticated, if any.
    pub user: Option<String>,
}

/// How the fake server behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// AUTH PLAIN must carry exactly these (user, password); none: AUTH is refused.
    pub credentials: Option<(String, String)>,
    /// RCPT TO for these addresses answers 550 (no such mailbox).
    pub unknown_mailboxes: Vec<String>,
    /// The first this many MAIL FROM commands answer 451 (try again later).
    pub defer_first: usize,
}

/// A running fake SMTP server.
pub struct FakeSmtp {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeSmtp {
    /// Starts the server on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake SMTP server");
        let port = listener.local_addr().expect("a local address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let deferred = Arc::new(Mutex::new(0usize));
        let store = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                let behaviour = behaviour.clone();
                let deferred = Arc::clone(&deferred);
                tokio::spawn(async move {
                    let _ = session(stream, &behaviour, &store, &deferred).await;
                });
            }
        });
        Self { port, received }
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("the lock").clone()
    }
}

async fn session(
    stream: TcpStream,
    behaviour: &Behaviour,
    store: &Mutex<Vec<Received>>,
    deferred: &Mutex<usize>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 fake-smtp.test ESMTP ready\r\n")
        .await?;
    let mut current = Received::default();
    let mut user = None;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-fake-smtp.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".to_owned()
        } else if upper.starts_with("HELO") {
            "250 fake-smtp.test\r\n".to_owned()
        } else if let Some(encoded) = upper.strip_prefix("AUTH PLAIN ").map(|_| &command[11..]) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            match (&behaviour.credentials, parts.as_slice()) {
                (Some((u, p)), [_, given_user, given_password])
                    if given_user == u && given_password == p =>
                {
                    user = Some(u.clone());
                    "235 2.7.0 Authentication successful\r\n".to_owned()
                }
                _ => "535 5.7.8 Authentication credentials invalid\r\n".to_owned(),
            }
        } else if upper.starts_with("MAIL FROM:") {
            if behaviour.credentials.is_some() && user.is_none() {
                "530 5.7.0 Authentication required\r\n".to_owned()
            } else {
                let mut count = deferred.lock().expect("the lock");
                if *count < behaviour.defer_first {
                    *count += 1;
                    "451 4.3.0 Try again later\r\n".to_owned()
                } else {
                    current = Received {
                        mail_from: address(&command),
                        user: user.clone(),
                        ..Received::default()
                    };
                    "250 2.1.0 OK\r\n".to_owned()
                }
            }
        } else if upper.starts_with("RCPT TO:") {
            let to = address(&command);
            if behaviour.unknown_mailboxes.contains(&to) {
                format!("550 5.1.1 <{to}>: Recipient address rejected: User unknown\r\n")
            } else {
                current.rcpt_to.push(to);
                "250 2.1.5 OK\r\n".to_owned()
            }
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            current.data = data;
            store
                .lock()
                .expect("the lock")
                .push(std::mem::take(&mut current));
            "250 2.0.0 OK: queued as FAKE1\r\n".to_owned()
        } else if upper == "RSET" {
            current = Received::default();
            "250 2.0.0 OK\r\n".to_owned()
        } else if upper == "NOOP" {
            "250 2.0.0 OK\r\n".to_owned()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 Command not recognized\r\n".to_owned()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The address in `MAIL FROM:<a@b> SIZE=...` or `RCPT TO:<a@b>`.
fn address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
